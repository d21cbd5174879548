/** A counting semaphore with a bounded queue: `acquire` past `maxWaiting` waiters is `unavailable`. */
import { StagefarmError } from "../../shared/errors.js";

export class Semaphore {
  private free: number;
  private readonly waiting: Array<{ resolve: (release: () => void) => void; reject: (e: Error) => void }> =
    [];
  private closedWith: Error | undefined;

  constructor(
    slots: number,
    private readonly maxWaiting: number,
  ) {
    this.free = slots;
  }

  acquire(): Promise<() => void> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxWaiting)
      return Promise.reject(
        new StagefarmError("unavailable", "too many submissions are being parsed; try again shortly"),
      );
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Fails every waiter and every later acquire with `err`. */
  close(err: Error): void {
    this.closedWith = err;
    for (const w of this.waiting.splice(0)) w.reject(err);
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next !== undefined) next.resolve(this.releaser());
      else this.free++;
    };
  }
}
