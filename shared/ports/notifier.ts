/**
 * A wake-up signal for in-process consumers: `wait` resolves at the next `notify`, when the
 * signal fires or after an optional timeout, whichever comes first, and clears its timer and
 * listener. Callers re-check their condition after every wake-up.
 */
export class Notifier {
  readonly #waiters = new Set<() => void>();

  /** Wakes every current waiter. */
  notify(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  wait(signal: AbortSignal, timeoutMs?: number): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        this.#waiters.delete(wake);
        signal.removeEventListener("abort", wake);
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      this.#waiters.add(wake);
      signal.addEventListener("abort", wake, { once: true });
      if (timeoutMs !== undefined) timer = setTimeout(wake, timeoutMs);
    });
  }
}
