/**
 * Waiting that stops when a signal aborts: the server's streaming loop must not hang on a
 * handler or a full socket after the client has gone.
 */
import type { Writable } from "node:stream";
import { StagefarmError } from "../errors.js";

function abortReason(signal: AbortSignal): StagefarmError {
  return signal.reason === undefined
    ? new StagefarmError("cancelled", "operation cancelled")
    : StagefarmError.from(signal.reason, "cancelled");
}

/**
 * Settles like `p`, or rejects with the signal's reason as soon as it aborts. `p` is left running
 * (its later rejection is handled by the race, never unhandled).
 */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([p, aborted]).finally(() => {
    if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
  });
}

/** Resolves when a writable that refused more data (`write()` returned false) drains. */
export function drained(stream: Writable, signal: AbortSignal): Promise<void> {
  return untilAborted(
    new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        stream.off("drain", onDrain);
        stream.off("close", onClose);
        stream.off("error", onError);
      };
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (): void => {
        cleanup();
        reject(new StagefarmError("cancelled", "the call closed while waiting to send"));
      };
      const onError = (err: unknown): void => {
        cleanup();
        reject(StagefarmError.from(err, "unavailable"));
      };
      stream.on("drain", onDrain);
      stream.on("close", onClose);
      stream.on("error", onError);
    }),
    signal,
  );
}
