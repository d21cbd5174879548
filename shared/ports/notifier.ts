/**
 * A wake-up signal for in-process consumers: a wait ends at the next `notify`, when the signal
 * fires, after an optional timeout or when cancelled, whichever comes first, and then clears
 * its timer and listener. Callers re-check their condition after every wake-up.
 */
export interface PendingWait {
  /** Resolves when the wait ended, for whatever reason. */
  done: Promise<void>;
  /** Ends the wait now and unregisters it (idempotent). */
  cancel(): void;
}

export class Notifier {
  readonly #waiters = new Set<() => void>();

  /** Wakes every current waiter. */
  notify(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  wait(signal: AbortSignal, timeoutMs?: number): Promise<void> {
    return this.start(signal, timeoutMs).done;
  }

  /** A wait that the caller can end early (e.g. after racing it with something else). */
  start(signal: AbortSignal, timeoutMs?: number): PendingWait {
    if (signal.aborted) return { done: Promise.resolve(), cancel: () => undefined };
    let wake: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      wake = (): void => {
        this.#waiters.delete(wake);
        signal.removeEventListener("abort", wake);
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      this.#waiters.add(wake);
      signal.addEventListener("abort", wake, { once: true });
      if (timeoutMs !== undefined) timer = setTimeout(wake, timeoutMs);
    });
    return { done, cancel: () => wake() };
  }
}
