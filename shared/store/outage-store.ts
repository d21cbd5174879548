/**
 * An ArtifactStore that rides out store outages (./store-outage.ts): every operation that can
 * be repeated from its arguments alone (stats, file uploads and downloads, manifests, logs given
 * as text, deletes, opening a read) is retried through the shared {@link StoreOutage} for as
 * long as its budget allows. Operations fed by a caller's stream (`putBlob`, `putLog` with a
 * stream, `putObject`) cannot be replayed: they are tried once and only report to the outage;
 * callers that must survive an outage hand the store a file instead (the agent spools outputs
 * and logs to its workspace and stores them with `putBlobFile` / {@link StoreOutage.run}).
 * Listings pass through. Every other member is the wrapped store's own (a proxy).
 */
import type { Readable } from "node:stream";
import type { Digest } from "../digest.js";
import type { ArtifactStore, ByteRange, Manifest, PutOptions } from "./types.js";
import { isStoreOutageFailure, type StoreOutage } from "./store-outage.js";

export function outageTolerantStore(store: ArtifactStore, outage: StoreOutage): ArtifactStore {
  /** One try; tells the outage what it saw. */
  const once = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      const v = await fn();
      outage.available();
      return v;
    } catch (err: unknown) {
      if (isStoreOutageFailure(err)) outage.unavailable(err);
      throw err;
    }
  };
  const overrides: Partial<ArtifactStore> = {
    statBlob: (d: Digest) => outage.run(`cannot stat blob ${d}`, () => store.statBlob(d)),
    putBlob: (data: Readable, opts?: PutOptions) => once(() => store.putBlob(data, opts)),
    putBlobFile: (path: string, opts?: PutOptions) =>
      outage.run(`storing file ${path}`, () => store.putBlobFile(path, opts), opts?.signal),
    getBlob: (d: Digest, signal?: AbortSignal) =>
      outage.run(`reading blob ${d}`, () => store.getBlob(d, signal), signal),
    getBlobToFile: (d: Digest, dest: string, signal?: AbortSignal) =>
      outage.run(`copying blob ${d} to ${dest}`, () => store.getBlobToFile(d, dest, signal), signal),
    verifyBlob: (d: Digest, signal?: AbortSignal) =>
      outage.run(`verifying blob ${d}`, () => store.verifyBlob(d, signal), signal),
    deleteBlob: (d: Digest) => outage.run(`deleting blob ${d}`, () => store.deleteBlob(d)),
    getManifest: (key: Digest) => outage.run(`reading manifest ${key}`, () => store.getManifest(key)),
    putManifest: (m: Manifest) => outage.run(`storing manifest ${m.key}`, () => store.putManifest(m)),
    deleteManifest: (key: Digest) => outage.run(`deleting manifest ${key}`, () => store.deleteManifest(key)),
    putLog: (path: string, data: Readable | string) =>
      typeof data === "string"
        ? outage.run(`storing log ${path}`, () => store.putLog(path, data))
        : once(() => store.putLog(path, data)),
    getLog: (path: string, range?: ByteRange) =>
      outage.run(`reading log ${path}`, () => store.getLog(path, range)),
    deleteLog: (path: string) => outage.run(`deleting log ${path}`, () => store.deleteLog(path)),
  };
  return new Proxy(store, {
    get(target, prop) {
      if (typeof prop === "string" && prop in overrides) return overrides[prop as keyof ArtifactStore];
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
