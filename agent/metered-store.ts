/**
 * An ArtifactStore that reports the bytes it moves and how long each transfer took: downloads
 * (`getBlob` streams, `getBlobToFile`) and uploads (`putBlob`, `putBlobFile`, `putLog`). Every
 * other member is the wrapped store's own (a proxy, so methods added to the port later pass
 * through untouched). The agent's executor uses it, so inputs and outputs are counted wherever
 * they are placed or collected. Failed transfers are not counted.
 */
import { pipeline, Transform, type Readable } from "node:stream";
import type { Digest } from "../shared/digest.js";
import type { ArtifactStore, BlobInfo, PutOptions } from "../shared/store/index.js";
import type { TransferDirection, TransferMetrics } from "./metrics.js";

/** `src` piped through a byte counter that calls `done` with the count at its end. */
function counting(src: Readable, done: (bytes: number) => void): Readable {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      done(bytes);
      cb();
    },
  });
  // pipeline(): an error on either side destroys both (the reader sees it; no handle is left open).
  pipeline(src, counter, () => undefined);
  return counter;
}

export function meteredStore(store: ArtifactStore, metrics: TransferMetrics): ArtifactStore {
  const since = (started: number): number => (performance.now() - started) / 1000;
  const timed = async <T>(
    dir: TransferDirection,
    work: () => Promise<T>,
    size: (v: T) => number,
  ): Promise<T> => {
    const started = performance.now();
    const v = await work();
    metrics.transfer(dir, size(v), since(started));
    return v;
  };
  const blobSize = (b: BlobInfo): number => b.size;
  const overrides: Partial<ArtifactStore> = {
    putBlob: (data: Readable, opts?: PutOptions) =>
      timed("upload", () => store.putBlob(data, opts), blobSize),
    putBlobFile: (path: string, opts?: PutOptions) =>
      timed("upload", () => store.putBlobFile(path, opts), blobSize),
    getBlobToFile: (digest: Digest, dest: string, signal?: AbortSignal) =>
      timed("download", () => store.getBlobToFile(digest, dest, signal), blobSize),
    getBlob: async (digest: Digest, signal?: AbortSignal) => {
      const started = performance.now();
      const src = await store.getBlob(digest, signal);
      return counting(src, (bytes) => metrics.transfer("download", bytes, since(started)));
    },
    putLog: async (path: string, data: Readable | string) => {
      const started = performance.now();
      if (typeof data === "string") {
        await store.putLog(path, data);
        metrics.transfer("upload", Buffer.byteLength(data), since(started));
        return;
      }
      let bytes = 0;
      await store.putLog(
        path,
        counting(data, (n) => (bytes = n)),
      );
      metrics.transfer("upload", bytes, since(started));
    },
  };
  return new Proxy(store, {
    get(target, prop) {
      if (typeof prop === "string" && prop in overrides) return overrides[prop as keyof ArtifactStore];
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
