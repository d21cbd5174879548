/**
 * Option helpers every command's registration uses. Registration modules import only this,
 * commander and types, so that `stagefarm --help` loads no implementation (cli/main.ts): heavy
 * modules are loaded by an action with `await import(...)`.
 *
 * A setting with an environment variable is declared with {@link envOption}: commander reads
 * the variable when the flag is absent and shows it in `--help` (test/unit/cli-env-help.test.ts
 * checks that every STAGEFARM_ variable the code reads is shown). A variable set but empty is
 * treated as unset, as service managers leave them (cli/main.ts clears it before the action
 * runs, so a context of the config file can still supply the setting). Boolean switches are the exception
 * ({@link envSwitch}): commander would turn any value on, "0" included, so the variable must be
 * exactly "1" and is read where the switch is resolved, its name in the help text.
 */
import { Option, type Command } from "commander";
import { StagefarmError } from "../shared/errors.js";

/** `--flag <value>` that falls back to the environment variable `env` (shown in --help). */
export function envOption(flags: string, description: string, env: string): Option {
  return new Option(flags, description).env(env);
}

/** A boolean `--flag` also switched on by `env=1`; read it with {@link switchOn}. */
export function envSwitch(flags: string, description: string, env: string): Option {
  return new Option(flags, `${description} (env: ${env}=1)`);
}

/** Whether a boolean switch is on: the flag, or its variable set to exactly "1". */
export function switchOn(flag: boolean | undefined, env: NodeJS.ProcessEnv, name: string): boolean {
  return flag === true || env[name] === "1";
}

const noFarm = new WeakSet<Command>();

/**
 * Marks a command whose action uses neither ctx.config() nor ctx.logger() (`validate`,
 * `context`): cli/main.ts then does not load the farm settings and pino before it runs.
 */
export function withoutFarm(cmd: Command): Command {
  noFarm.add(cmd);
  return cmd;
}

/** Whether {@link withoutFarm} marked `cmd`. */
export function isWithoutFarm(cmd: Command): boolean {
  return noFarm.has(cmd);
}

/** Parses a positive integer flag value (commander hands strings). */
export function positiveInt(name: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new StagefarmError("invalid_argument", `${name} must be a positive integer, got "${v}"`);
    return n;
  };
}

/** Collects repeated `--param k=v` flags. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
