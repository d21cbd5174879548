/**
 * The `.CONTENTS.gz` of a released file: the listing catalyst writes with DeComp's contents map
 * (catalyst/base/genbase.py `gen_contents_file`, at gentoo/catalyst df01e21b; catalyst/main.py
 * builds the map with `list_xattrs_opt` = `--xattrs --xattrs-include=*`): for a tarball GNU
 * `tar --xattrs --xattrs-include=* -tv` of it, for an ISO `isoinfo -l` (here xorriso's `-lsdl`
 * listing of the same tree: isoinfo is not shipped by current Debian), gzip-compressed.
 *
 * The file's bytes are streamed into the lister while they are hashed (one read of a multi-GiB
 * stage3); the lister never sees a path the caller chose (tar reads stdin; the ISO goes to a
 * private temp file).
 */
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { gzipSync } from "node:zlib";
import { execa } from "execa";
import { StagefarmError } from "../errors.js";
import { isTarExtension, type ReleaseExtension } from "./layout.js";

const TAR_FILTER: Partial<Record<ReleaseExtension, string>> = {
  ".tar.xz": "--xz",
  ".tar.zst": "--zstd",
  ".tar.gz": "--gzip",
  ".tar.bz2": "--bzip2",
};

/** Listings larger than this are refused (a hostile archive of millions of tiny entries). */
const MAX_LISTING_BYTES = 512 << 20;

async function* tapped(src: Readable, tap: (chunk: Buffer) => void): AsyncGenerator<Buffer> {
  for await (const chunk of src as AsyncIterable<Buffer>) {
    tap(chunk);
    yield chunk;
  }
}

/**
 * Writes `body` into the lister's stdin while every byte passes `tap`. tar stops reading at the
 * archive's end-of-archive blocks and may exit before the record padding after them: its stdin
 * then closes (EPIPE), and the rest of the body is still read, for the hashes, but not written.
 */
async function feed(body: Readable, sink: Writable, tap: (chunk: Buffer) => void): Promise<void> {
  let gone = false;
  const onGone = (): void => {
    gone = true;
  };
  sink.on("error", onGone);
  sink.on("close", onGone);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      tap(chunk);
      if (gone || sink.write(chunk)) continue;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          sink.off("drain", done);
          sink.off("close", done);
          resolve();
        };
        sink.on("drain", done);
        sink.on("close", done);
      });
    }
  } finally {
    if (!gone) sink.end();
  }
}

/** Lists `body` (the released file's bytes, passed through `tap`) and returns the gzip of the listing. */
export async function contentsGz(
  body: Readable,
  ext: ReleaseExtension,
  tap: (chunk: Buffer) => void,
  signal?: AbortSignal,
): Promise<Buffer> {
  const opts = {
    ...(signal === undefined ? {} : { cancelSignal: signal }),
    maxBuffer: MAX_LISTING_BYTES,
    stripFinalNewline: false,
    env: { LC_ALL: "C", TZ: "UTC" },
  };
  try {
    if (isTarExtension(ext)) {
      const filter = TAR_FILTER[ext];
      const args = ["--xattrs", "--xattrs-include=*", ...(filter === undefined ? [] : [filter]), "-tvf", "-"];
      const sub = execa("tar", args, { ...opts, stdin: "pipe" });
      const feeding = feed(body, sub.stdin, tap).catch((err: unknown) => {
        sub.kill();
        throw err;
      });
      const [, done] = await Promise.all([feeding, sub]);
      return gzipSync(done.stdout);
    }
    const dir = await mkdtemp(join(tmpdir(), "stagefarm-release-"));
    try {
      const file = join(dir, `image${ext}`);
      await pipeline(tapped(body, tap), createWriteStream(file));
      if (ext !== ".iso") return gzipSync(Buffer.alloc(0));
      const done = await execa("xorriso", ["-indev", file, "-find", "/", "-exec", "lsdl", "--"], opts);
      return gzipSync(done.stdout);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } catch (err: unknown) {
    body.destroy();
    if (err instanceof StagefarmError) throw err;
    throw new StagefarmError(
      "invalid_argument",
      `cannot list the released file (${ext}): ${String((err as Error).message).slice(0, 400)}`,
      { cause: err },
    );
  }
}
