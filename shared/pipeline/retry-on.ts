/**
 * A stage's `retry_on:` — which failures its `retries` may retry, next to `retries:`:
 *
 *   retries: 2
 *   retry_on: [infra, exit:75]
 *
 * - `infra`: the farm failed, not the stage: the store or NATS unavailable, the runner could not
 *   start (error codes `unavailable`, `internal`). An agent lost or a lease expired is
 *   dispatched again by the coordinator without spending an attempt.
 * - `timeout`: the stage ran past its `timeout:`.
 * - `exit`: the script exited non-zero, any status; `exit:N`: it exited with status N (1–255).
 *
 * Without `retry_on`, every one of them is retried (the behaviour before `retry_on` existed).
 * The engine decides from the failure's error code and its `exitCode` detail, never its message.
 */
import { isSeq } from "yaml";
import { didYouMean } from "./suggest.js";
import type { RetryCondition } from "./types.js";
import type { Entry, YamlReader } from "./yaml-reader.js";

/** The words of `retry_on`, `exit:N` aside. */
const RETRY_CLASSES = ["infra", "timeout", "exit"] as const;

/** What `retries` retries when the stage has no `retry_on`. */
export const DEFAULT_RETRY_ON: readonly RetryCondition[] = [{ t: "infra" }, { t: "timeout" }, { t: "exit" }];

/** Parses one `retry_on` word, or says what is wrong with it. */
export function parseRetryCondition(word: string): RetryCondition | string {
  const exit = /^exit:(\d{1,3})$/.exec(word);
  if (exit?.[1] !== undefined) {
    const code = Number(exit[1]);
    return code >= 1 && code <= 255 ? { t: "exit", code } : `exit status ${code} is not 1–255`;
  }
  if (word === "infra" || word === "timeout" || word === "exit") return { t: word };
  return `unknown failure ${JSON.stringify(word.slice(0, 40))}${didYouMean(word, RETRY_CLASSES)} (expected infra, timeout, exit or exit:N)`;
}

/** `retry_on: [...]`, each element checked where it is written. */
export function readRetryOn(r: YamlReader, e: Entry, where: string): RetryCondition[] | undefined {
  const words = r.strings(e.value, e.key, `${where} retry_on`);
  if (words === undefined) return undefined;
  const seq = r.deref(e.value);
  const items = seq !== undefined && isSeq(seq) ? seq.items : [];
  const out: RetryCondition[] = [];
  words.forEach((word, i) => {
    const c = parseRetryCondition(word);
    if (typeof c !== "string") {
      out.push(c);
      return;
    }
    // Each word where it is written (when every element was a string, the lists align).
    const item = words.length === items.length ? items[i] : undefined;
    r.error(item ?? e.key, `${where} retry_on[${i}]: ${c}`);
  });
  return out;
}
