/**
 * The user's config file, `$XDG_CONFIG_HOME/stagefarm/config.toml` (~/.config/stagefarm when
 * XDG_CONFIG_HOME is unset, empty or relative): named contexts holding the connection settings
 * of the commands that call a coordinator, so that `--coordinator`, `--ca`, `--cert`, `--key`,
 * `--tls`, `--insecure` and the token stop repeating.
 *
 *   default_context = "prod"          # optional; else a context named "default", if any
 *   [contexts.prod]
 *   coordinator = "farm.example.org:7420"
 *   ca = "prod-ca.pem"                # relative paths: to this file's directory; ~/ is home
 *   token_file = "~/.config/stagefarm/prod.token"
 *
 * Precedence: flag > environment variable > context > built-in default (cli/main.ts applies a
 * context under what the command line and the environment gave). A token is never stored in
 * this file (`token` is refused): `token_file` names a file of mode 0600 read like a TLS key,
 * so the config file can be shared and read by others without leaking one. The file is bounded
 * (64 KiB, a regular file); unknown keys, wrong types and an unknown context name are refused
 * with file:line, and no value of the file is echoed except a short, escaped excerpt of a name.
 */
import { open } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parse, TomlError } from "smol-toml";
import { StagefarmError } from "../shared/errors.js";
import { quoted } from "../shared/util/excerpt.js";
import { CONTEXT_KEYS, type ContextKey, type ContextSettings } from "./apply-context.js";
import { xdgDir } from "./xdg.js";

const MAX_CONFIG_BYTES = 64 * 1024;

export interface ConfigFile {
  path: string;
  /** `default_context`, checked to name a context. */
  defaultContext: string | undefined;
  contexts: ReadonlyMap<string, ContextSettings>;
}

/** The chosen context (absent: none applies) and where it came from, for messages. */
export interface SelectedContext {
  name: string;
  settings: ContextSettings;
  path: string;
}

/** Where the config file is looked for. */
export function configFilePath(env: NodeJS.ProcessEnv, home = homedir()): string {
  return join(xdgDir(env, "XDG_CONFIG_HOME", ".config", home), "stagefarm", "config.toml");
}

function refused(where: string, message: string): StagefarmError {
  return new StagefarmError("invalid_argument", `${where}: ${message}`);
}

/** The 1-based line of `key =` in table `[contexts.NAME]` (or at the top level), if it is written so. */
function lineOf(text: string, key: string, context?: string): number | undefined {
  const lines = text.split("\n");
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const header =
    context === undefined
      ? undefined
      : new RegExp(
          `^\\s*\\[\\s*contexts\\s*\\.\\s*("${esc(context)}"|'${esc(context)}'|${esc(context)})\\s*\\]`,
        );
  const keyRe = new RegExp(`^\\s*("${esc(key)}"|'${esc(key)}'|${esc(key)})\\s*[=.]`);
  let inTable = header === undefined;
  for (const [i, line] of lines.entries()) {
    if (/^\s*\[/.test(line)) {
      inTable = header?.test(line) ?? false;
      if (inTable && key === "") return i + 1;
      continue;
    }
    if (inTable && keyRe.test(line)) return i + 1;
  }
  return undefined;
}

function at(path: string, line: number | undefined): string {
  return line === undefined ? path : `${path}:${line}`;
}

function home(p: string, homeDir: string): string {
  return p === "~" ? homeDir : p.startsWith("~/") ? join(homeDir, p.slice(2)) : p;
}

/** Parses the text of a config file read from `path` (exported for tests). */
export function parseConfigFile(text: string, path: string, homeDir = homedir()): ConfigFile {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text);
  } catch (err: unknown) {
    if (!(err instanceof TomlError)) throw err;
    // The first line only: smol-toml's message goes on with the file's text around the error.
    const what = (err.message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, "");
    throw refused(`${path}:${err.line}:${err.column}`, `not valid TOML: ${what}`);
  }
  let defaultContext: string | undefined;
  const contexts = new Map<string, ContextSettings>();
  for (const [k, v] of Object.entries(doc)) {
    if (k === "default_context") {
      if (typeof v !== "string" || v === "")
        throw refused(at(path, lineOf(text, k)), "default_context must be a context name (a string)");
      defaultContext = v;
    } else if (k === "contexts") {
      if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Date)
        throw refused(at(path, lineOf(text, k)), "contexts must be a table of [contexts.NAME] tables");
      for (const [name, table] of Object.entries(v as Record<string, unknown>))
        contexts.set(name, contextSettings(text, path, name, table, homeDir));
    } else
      throw refused(
        at(path, lineOf(text, k)),
        `unknown key ${quoted(k, 40)} (known: default_context, [contexts.NAME])`,
      );
  }
  if (defaultContext !== undefined && !contexts.has(defaultContext))
    throw refused(
      at(path, lineOf(text, "default_context")),
      `default_context names no context: ${quoted(defaultContext, 40)} ${knownNames(contexts)}`,
    );
  return { path, defaultContext, contexts };
}

function contextSettings(
  text: string,
  path: string,
  name: string,
  table: unknown,
  homeDir: string,
): ContextSettings {
  const where = (key: string): string => at(path, lineOf(text, key, name));
  if (typeof table !== "object" || table === null || Array.isArray(table) || table instanceof Date)
    throw refused(where(""), `contexts.${quoted(name, 40)} must be a table`);
  const out: ContextSettings = {};
  for (const [key, value] of Object.entries(table as Record<string, unknown>)) {
    if (key === "token")
      throw refused(
        where(key),
        `a token is not stored in the config file: put it in a file of mode 0600 and name that file with token_file`,
      );
    if (!(key in CONTEXT_KEYS))
      throw refused(
        where(key),
        `unknown key ${quoted(key, 40)} in context ${quoted(name, 40)} (known: ${Object.keys(CONTEXT_KEYS).join(", ")})`,
      );
    const spec = CONTEXT_KEYS[key as ContextKey];
    if (spec.type === "boolean") {
      if (typeof value !== "boolean") throw refused(where(key), `${key} must be true or false`);
      out[spec.option] = value;
    } else {
      if (typeof value !== "string" || value === "")
        throw refused(where(key), `${key} must be a non-empty string`);
      out[spec.option] = spec.type === "path" ? resolve(dirname(path), home(value, homeDir)) : value;
    }
  }
  return out;
}

function knownNames(contexts: ReadonlyMap<string, unknown>): string {
  const names = [...contexts.keys()];
  return names.length === 0
    ? "(the file defines none)"
    : `(defined: ${names.map((n) => quoted(n, 40)).join(", ")})`;
}

/** Reads and parses the config file at `path`; undefined when there is none. */
export async function readConfigFile(path: string, homeDir = homedir()): Promise<ConfigFile | undefined> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (err: unknown) {
    const e = StagefarmError.from(err, "invalid_argument");
    if (e.code === "not_found") return undefined;
    throw new StagefarmError("invalid_argument", `config file ${path} cannot be read: ${e.message}`, {
      cause: err,
    });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw refused(path, "the config file is not a regular file");
    if (st.size > MAX_CONFIG_BYTES)
      throw refused(path, `the config file is larger than ${MAX_CONFIG_BYTES / 1024} KiB (${st.size} bytes)`);
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > MAX_CONFIG_BYTES)
      throw refused(path, `the config file is larger than ${MAX_CONFIG_BYTES / 1024} KiB`);
    return parseConfigFile(buf.subarray(0, bytesRead).toString("utf8"), path, homeDir);
  } finally {
    await fh.close();
  }
}

/**
 * The context to apply: `requested` (--context or STAGEFARM_CONTEXT) must name one of the file;
 * without it, the file's default_context, else a context named "default", else none.
 */
export function selectContext(
  file: ConfigFile | undefined,
  requested: string | undefined,
  path: string,
): SelectedContext | undefined {
  if (requested !== undefined) {
    if (file === undefined)
      throw new StagefarmError(
        "invalid_argument",
        `--context ${quoted(requested, 40)}: there is no config file ${path}`,
      );
    const settings = file.contexts.get(requested);
    if (settings === undefined)
      throw refused(file.path, `no context ${quoted(requested, 40)} ${knownNames(file.contexts)}`);
    return { name: requested, settings, path: file.path };
  }
  if (file === undefined) return undefined;
  const name = file.defaultContext ?? (file.contexts.has("default") ? "default" : undefined);
  const settings = name === undefined ? undefined : file.contexts.get(name);
  return name === undefined || settings === undefined ? undefined : { name, settings, path: file.path };
}
