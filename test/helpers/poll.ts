/**
 * Waiting in tests by polling a condition with a deadline, never by a fixed sleep: `poll` calls
 * `fn` until it returns a value other than `undefined` or `false` and resolves with that value;
 * past the deadline it fails with a `timeout` error naming what it waited for.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { StagefarmError } from "../../shared/errors.js";

export interface PollOptions {
  /** How long to keep trying before failing. */
  timeoutMs: number;
  /** What is awaited, for the error: "timed out after N ms waiting for <what>". */
  what: string;
  /** Pause between two calls of `fn` (default 10 ms). */
  intervalMs?: number;
}

/**
 * Calls `fn` every `intervalMs` until it returns something other than `undefined` or `false`;
 * resolves with that (so a boolean condition resolves with `true`). `fn` is called at least once;
 * the error comes only after a call that returned past the deadline.
 */
export async function poll<T>(
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  opts: PollOptions,
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline)
      throw new StagefarmError("timeout", `timed out after ${opts.timeoutMs} ms waiting for ${opts.what}`);
    await sleep(opts.intervalMs ?? 10);
  }
}
