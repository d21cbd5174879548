/**
 * Writes a download where `stagefarm get` was told to, verifying its sha256 and size against
 * what the farm's record says while the bytes go by:
 * - a file (or a tree kept as its archive, `--tar`) goes to a temp file beside the destination
 *   and appears under its name only once verified; a mismatch removes it;
 * - a tree is verified the same way, then unpacked by the project's safe unpacker
 *   (shared/pack: every entry checked before GNU tar writes anything) into a new directory;
 * - `-` streams to stdout; a mismatch is reported at the end (the bytes are already out).
 * An existing destination is never replaced unless `force`.
 */
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { link, mkdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { StagefarmError } from "../../shared/errors.js";
import { exists, errnoOf } from "../../shared/util/fs.js";
import { unpackFile } from "../../shared/pack/index.js";
import type { OpenedDownload } from "./download-source.js";

export interface WriteOptions {
  /** A path, or "-" for stdout. */
  dest: string;
  /** Unpack a tree (false: keep its archive). */
  extract: boolean;
  force: boolean;
  stdout: NodeJS.WritableStream;
  signal: AbortSignal;
}

function hashing(): { t: Transform; result: () => { digest: string; size: number } } {
  const h = createHash("sha256");
  let size = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  return { t, result: () => ({ digest: h.digest("hex"), size }) };
}

function check(got: { digest: string; size: number }, want: { digest: string; size: number }): void {
  if (got.digest !== want.digest || got.size !== want.size)
    throw new StagefarmError(
      "corrupt_artifact",
      `download does not match its record: got sha256 ${got.digest} (${got.size} bytes), expected ${want.digest} (${want.size} bytes); nothing was kept`,
    );
}

async function verifiedTemp(
  body: Readable,
  want: OpenedDownload["info"],
  tmp: string,
  signal: AbortSignal,
): Promise<void> {
  const h = hashing();
  await pipeline(body, h.t, createWriteStream(tmp, { flags: "wx", mode: 0o644 }), { signal });
  check(h.result(), want);
}

/** Writes the download; returns the path written (or "-"). */
export async function writeDownload(d: OpenedDownload, o: WriteOptions): Promise<string> {
  if (o.dest === "-") {
    const h = hashing();
    await pipeline(d.body, h.t, o.stdout, { signal: o.signal, end: false });
    check(h.result(), d.info);
    return "-";
  }
  const dest = resolve(o.dest);
  if (await exists(dest)) {
    if (!o.force) {
      d.body.destroy();
      throw new StagefarmError("invalid_argument", `${o.dest} exists (--force replaces it)`);
    }
  }
  await mkdir(dirname(dest), { recursive: true });
  const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(6).toString("hex")}.sf-download`);
  try {
    await verifiedTemp(d.body, d.info, tmp, o.signal);
    if (o.force) await rm(dest, { recursive: true, force: true });
    if (d.info.kind === "tree" && o.extract) {
      await unpackFile(tmp, dest, { signal: o.signal });
    } else if (o.force) {
      await rename(tmp, dest);
    } else {
      // link fails if the name appeared meanwhile: nothing is replaced behind the check above.
      await link(tmp, dest).catch((err: unknown) => {
        throw errnoOf(err) === "EEXIST"
          ? new StagefarmError("invalid_argument", `${o.dest} exists (--force replaces it)`, { cause: err })
          : StagefarmError.from(err);
      });
    }
  } finally {
    d.body.destroy();
    await rm(tmp, { force: true });
  }
  return dest;
}
