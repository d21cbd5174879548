/**
 * The `ac/` part of the S3 artifact store: action-cache manifests as JSON objects.
 *
 * A manifest is written only if absent, and only after every output blob it names is present
 * with the recorded size. "Only if absent" is a stat, then a put: not atomic across processes,
 * and it need not be, because the coordinator is the single writer of manifests (DESIGN.md,
 * "Dispatch, leases and fencing": agents upload blobs, only the coordinator publishes cache
 * entries after accepting the current owner's result), so no conditional put is needed. Within
 * one process the writes of one key are serialised, so the first writer wins there too.
 * Reads are validated by the shared schema; a manifest that does not parse is `corrupt_artifact`.
 */
import type { Readable } from "node:stream";
import type { Digest } from "../digest.js";
import { StagefarmError } from "../errors.js";
import { withContext } from "./fs-util.js";
import { assertLogPath, manifestPath } from "./layout.js";
import { checkManifest, parseManifest } from "./manifest-schema.js";
import type { S3Bucket } from "./s3-bucket.js";
import type { BlobInfo, Manifest } from "./types.js";

const MANIFEST_KEY = /^ac\/([0-9a-f]{64})\.json$/;
/** A manifest is a few KiB; anything far larger is not one. */
const MAX_MANIFEST_BYTES = 16 << 20;

export class S3Manifests {
  readonly #bucket: S3Bucket;
  /** The write of each key in progress in this process. */
  readonly #writes = new Map<string, Promise<unknown>>();

  constructor(bucket: S3Bucket) {
    this.#bucket = bucket;
  }

  async get(key: Digest): Promise<Manifest | undefined> {
    const path = manifestPath(key);
    const where = `${this.#bucket.describe}/${path}`;
    let text: string;
    try {
      const body = await this.#bucket.open(path, `reading manifest ${where}`);
      text = await readText(body, MAX_MANIFEST_BYTES, where);
    } catch (err: unknown) {
      if (err instanceof StagefarmError && err.code === "not_found") return undefined;
      throw withContext(err, `reading manifest ${where}`);
    }
    return parseManifest(text, where, key);
  }

  /** Writes `manifest` unless one exists for its key; false if one did. */
  async put(
    manifest: Manifest,
    statBlob: (digest: Digest) => Promise<BlobInfo | undefined>,
  ): Promise<boolean> {
    const m = checkManifest(manifest);
    if (m.log !== undefined) assertLogPath(m.log);
    for (const [name, out] of Object.entries(m.outputs)) {
      const info = await statBlob(out.digest);
      const what = `cannot publish the cache entry of stage "${m.stage}" (key ${m.key}): output "${name}"`;
      if (info === undefined)
        throw new StagefarmError(
          "not_found",
          `${what} refers to blob ${out.digest}, which is not in ${this.#bucket.describe}`,
          { details: { key: m.key, output: name, digest: out.digest } },
        );
      if (info.size !== out.size)
        throw new StagefarmError(
          "invalid_argument",
          `${what} records ${out.size} bytes but blob ${out.digest} has ${info.size} bytes`,
        );
    }
    return this.#serialised(m.key, async () => {
      const path = manifestPath(m.key);
      const what = `writing manifest ${this.#bucket.describe}/${path}`;
      if ((await this.#bucket.stat(path, what)) !== undefined) return false;
      await this.#bucket.putBuffer(path, Buffer.from(`${JSON.stringify(m, null, 2)}\n`), what);
      return true;
    });
  }

  async *list(): AsyncGenerator<Manifest> {
    for await (const o of this.#bucket.list("ac/")) {
      const key = MANIFEST_KEY.exec(o.path)?.[1];
      if (key === undefined) continue;
      const m = await this.get(key);
      if (m !== undefined) yield m;
    }
  }

  async delete(key: Digest): Promise<void> {
    const path = manifestPath(key);
    await this.#bucket.remove(path, `removing manifest ${this.#bucket.describe}/${path}`);
  }

  async #serialised<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#writes.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.#writes.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.#writes.get(key) === settled) this.#writes.delete(key);
    }
  }
}

/** Reads a whole (small) object as UTF-8, refusing more than `limit` bytes. */
async function readText(body: Readable, limit: number, where: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw new StagefarmError(
        "corrupt_artifact",
        `manifest ${where} is corrupt: larger than ${limit} bytes`,
        {
          details: { manifest: where },
        },
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
