/**
 * Before an action runs (cli/main.ts's preAction hook): empty environment variables are cleared
 * (set but empty counts as unset), then the config file's context fills the options that
 * neither the command line nor the environment set. Commander records where each value came
 * from; a context value is recorded as "config", below "cli" and "env", above the default.
 */
import type { Command } from "commander";
import type { SelectedContext } from "./config-file.js";

/** Context keys and the command option (attribute name) each one supplies. */
export const CONTEXT_KEYS = {
  coordinator: { option: "coordinator", type: "string" },
  ca: { option: "ca", type: "path" },
  cert: { option: "cert", type: "path" },
  key: { option: "key", type: "path" },
  token_file: { option: "tokenFile", type: "path" },
  tls: { option: "tls", type: "boolean" },
  insecure: { option: "insecure", type: "boolean" },
} as const;
export type ContextKey = keyof typeof CONTEXT_KEYS;

/** One context: option attribute name → value. */
export type ContextSettings = Partial<Record<(typeof CONTEXT_KEYS)[ContextKey]["option"], string | boolean>>;

/** The command and its parents up to the program, each with its own options. */
function chain(cmd: Command): Command[] {
  const out: Command[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) out.push(c);
  return out;
}

/** Values taken from an empty environment variable become unset. */
export function clearEmptyEnv(action: Command): void {
  for (const c of chain(action))
    for (const o of c.options) {
      const key = o.attributeName();
      if (c.getOptionValueSource(key) === "env" && c.getOptionValue(key) === "")
        c.setOptionValueWithSource(key, undefined, "default");
    }
}

/**
 * Whether a context applies to the action: a command that calls a coordinator (it has
 * --coordinator). Serving commands share option names (--insecure) that mean something else.
 */
export function takesContext(action: Command): boolean {
  return action.options.some((o) => o.attributeName() === "coordinator");
}

/** Fills the action's options that the command line and the environment left unset. */
export function applyContext(action: Command, selected: SelectedContext | undefined): void {
  if (selected === undefined || !takesContext(action)) return;
  for (const o of action.options) {
    const key = o.attributeName();
    const value = selected.settings[key as keyof typeof selected.settings];
    if (value === undefined) continue;
    const source = action.getOptionValueSource(key);
    if (source === undefined || source === "default") action.setOptionValueWithSource(key, value, "config");
  }
}
