/**
 * Names shared by the state, queue and event ports, checked the same way by every
 * implementation so that a name accepted in embedded mode is also valid for NATS JetStream:
 *
 * - a **key** (KV) or **event subject** is one or more tokens joined by `.`; a token is
 *   `[A-Za-z0-9_=-]+` (e.g. `runs.r42`, `stages.r42.build`, `agent.a1.finished`);
 * - a **prefix** is a key or `""`; it selects the keys strictly below it (`stages.r42` selects
 *   `stages.r42.build`, not `stages.r42` nor `stages.r420.x`; `""` selects every key);
 * - a **pool** is one subject token naming the agents that may run a job (see {@link poolName});
 * - a **durable name** (event log consumers) is `[A-Za-z0-9_-]+`.
 */
import { createHash } from "node:crypto";
import { StagefarmError } from "../errors.js";
import { quoted } from "../util/excerpt.js";

const TOKEN = /^[A-Za-z0-9_=-]+$/;
const POOL = /^[A-Za-z0-9_=%+-]+$/;
const DURABLE = /^[A-Za-z0-9_-]+$/;
const MAX_NAME = 255;
const MAX_POOL = 80;

/** The pool of jobs that need no label: any agent may run them. */
export const ANY_POOL = "any";

function isDotted(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME && name.split(".").every((t) => TOKEN.test(t));
}

/** Throws `invalid_argument` unless `key` is dot-separated `[A-Za-z0-9_=-]` tokens. */
export function assertKey(key: string, what = "key"): void {
  if (!isDotted(key))
    throw new StagefarmError(
      "invalid_argument",
      `invalid ${what} ${quoted(key)}: use tokens of letters, digits, "_", "=" or "-" joined by "." (e.g. stages.r42.build)`,
      { details: { [what]: key } },
    );
}

/** Throws `invalid_argument` unless `prefix` is `""` or a valid key. */
export function assertPrefix(prefix: string): void {
  if (prefix !== "") assertKey(prefix, "key prefix");
}

/** Whether `key` lies strictly below `prefix` (every key lies below `""`). */
export function isBelow(key: string, prefix: string): boolean {
  return prefix === "" || key.startsWith(`${prefix}.`);
}

/** Throws `invalid_argument` unless `pool` is one pool token (as made by {@link poolName}). */
export function assertPool(pool: string): void {
  if (pool.length === 0 || pool.length > MAX_POOL || !POOL.test(pool))
    throw new StagefarmError(
      "invalid_argument",
      `invalid pool ${quoted(pool)}: a pool is one token of letters, digits, "_", "=", "%", "+" or "-" (make it with poolName(labels))`,
      { details: { pool } },
    );
}

/** Throws `invalid_argument` unless `name` is a valid durable consumer name. */
export function assertDurableName(name: string): void {
  if (name.length === 0 || name.length > 64 || !DURABLE.test(name))
    throw new StagefarmError(
      "invalid_argument",
      `invalid durable consumer name ${quoted(name)}: use 1-64 letters, digits, "_" or "-"`,
      { details: { durable: name } },
    );
}

/** Escapes one label: characters outside `[A-Za-z0-9_=-]` become `%HH` (UTF-8, upper-case hex). */
function escapeLabel(label: string): string {
  let out = "";
  for (const byte of Buffer.from(label, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_=-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The pool (queue subject token) for a stage's `requires` labels: the distinct labels sorted,
 * escaped and joined by `+`, e.g. `["x86_64", "catalyst"]` → `catalyst+x86_64`; no labels →
 * `any`. Deterministic and injective: different label sets never share a pool. Very long
 * names become `pool-<32 hex of sha256>`. The label `any` alone is reserved (it would name the
 * pool of jobs without requirements) and is rejected, as is an empty label.
 */
export function poolName(labels: readonly string[]): string {
  const distinct = [...new Set(labels)].sort();
  if (distinct.length === 0) return ANY_POOL;
  for (const label of distinct)
    if (label.length === 0) throw new StagefarmError("invalid_argument", "a pool label must not be empty");
  if (distinct.length === 1 && distinct[0] === ANY_POOL)
    throw new StagefarmError(
      "invalid_argument",
      `the label "${ANY_POOL}" is reserved: it names the pool of jobs that require no label`,
    );
  const joined = distinct.map(escapeLabel).join("+");
  if (joined.length <= MAX_POOL) return joined;
  return `pool-${createHash("sha256").update(distinct.join("\n")).digest("hex").slice(0, 32)}`;
}
