/**
 * In-process emulation of JetStream's duplicate window: a message id seen within the last
 * `windowMs` marks a repeat publish, which is dropped.
 */
export const DEFAULT_DEDUPE_WINDOW_MS = 120_000;

export class DedupeWindow {
  /** id → time first seen, in insertion (= time) order. */
  readonly #seen = new Map<string, number>();

  constructor(
    readonly windowMs: number = DEFAULT_DEDUPE_WINDOW_MS,
    readonly now: () => number = Date.now,
  ) {}

  /** Records `id`; returns true when it was already seen within the window. */
  isRepeat(id: string): boolean {
    const now = this.now();
    for (const [seenId, at] of this.#seen) {
      if (now - at < this.windowMs) break;
      this.#seen.delete(seenId);
    }
    if (this.#seen.has(id)) return true;
    this.#seen.set(id, now);
    return false;
  }
}
