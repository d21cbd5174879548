/** XDG base directories (cache, config), resolved as the XDG Base Directory spec says. Loads nothing heavy. */
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";

/** An environment variable's value, with set-but-empty treated as unset (as service managers leave them). */
export function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

/**
 * The XDG base directory `name` (e.g. XDG_CACHE_HOME), or `$HOME/<fallback>`. Per the XDG Base
 * Directory spec an unset or empty variable means the default, and a relative path is invalid
 * and ignored (it would put the cache under whatever the current directory is).
 */
export function xdgDir(env: NodeJS.ProcessEnv, name: string, fallback: string, home = homedir()): string {
  const v = envValue(env, name);
  return v !== undefined && isAbsolute(v) ? v : join(home, fallback);
}
