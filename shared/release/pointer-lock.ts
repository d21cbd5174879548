/**
 * The writer's hold on one release pointer while it promotes: an in-process queue per pointer
 * (two requests to one coordinator) and, on stores that have one, the store's lock on the
 * pointer object (`lockObject`: a flock shared by every process on a filesystem store). S3 has
 * no lock: its writer is the coordinator alone (docs/architecture.md, "Releases").
 */
import type { ArtifactStore, HeldLock } from "../store/index.js";
import { pointerPath } from "./layout.js";

export class PointerLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` holding pointer `name`. */
  async with<T>(store: ArtifactStore, name: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const before = this.tails.get(name) ?? Promise.resolve();
    let release = (): void => undefined;
    const mine = new Promise<void>((r) => (release = r));
    const tail = before.then(() => mine);
    this.tails.set(name, tail);
    try {
      await before;
      let held: HeldLock | undefined;
      if (store.lockObject !== undefined)
        held = await store.lockObject(pointerPath(name), signal === undefined ? {} : { signal });
      try {
        return await fn();
      } finally {
        await held?.release();
      }
    } finally {
      release();
      if (this.tails.get(name) === tail) this.tails.delete(name);
    }
  }
}
