/** The actions of `stagefarm context ls|show`. */
import { StagefarmError } from "../shared/errors.js";
import { configFilePath, readConfigFile, selectContext } from "./config-file.js";
import type { CliContext } from "./context.js";

export async function listContexts(opts: { json?: boolean }, ctx: CliContext): Promise<void> {
  const path = configFilePath(ctx.env);
  const file = await readConfigFile(path);
  const current = selectContext(file, undefined, path)?.name;
  const names = file === undefined ? [] : [...file.contexts.keys()];
  if (opts.json === true) {
    ctx.stdout.write(
      `${JSON.stringify({ file: path, exists: file !== undefined, current: current ?? null, contexts: names })}\n`,
    );
    return;
  }
  if (file === undefined) {
    ctx.stdout.write(`no config file (${path})\n`);
    return;
  }
  for (const n of names) ctx.stdout.write(`${n === current ? "*" : " "} ${n}\n`);
  if (names.length === 0) ctx.stdout.write(`${path} defines no context\n`);
}

export async function showContext(
  name: string | undefined,
  opts: { json?: boolean },
  ctx: CliContext,
): Promise<void> {
  const path = configFilePath(ctx.env);
  const selected = selectContext(await readConfigFile(path), name, path);
  if (selected === undefined)
    throw new StagefarmError(
      "not_found",
      `no context applies: ${path} has no default_context and no context "default"`,
    );
  if (opts.json === true) {
    ctx.stdout.write(
      `${JSON.stringify({ name: selected.name, file: selected.path, settings: selected.settings })}\n`,
    );
    return;
  }
  ctx.stdout.write(`context ${selected.name} (${selected.path})\n`);
  for (const [k, v] of Object.entries(selected.settings)) ctx.stdout.write(`  ${k} = ${String(v)}\n`);
}
