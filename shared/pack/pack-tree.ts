/**
 * Packs a directory tree into a deterministic tar|zstd artifact (see ./pack-args.ts), streamed:
 * memory stays bounded by a few stream buffers whatever the tree's size.
 *
 * The bytes reach the consumer (the artifact store, or a file) only as a stream that *fails*
 * when tar or zstd fail, including a tar warning such as "file changed as we read it" (exit
 * status 1): a partial or inconsistent archive can never be stored as a good blob.
 */
import { randomBytes } from "node:crypto";
import { open, rename, rm, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { StagefarmError, throwIfAborted } from "../errors.js";
import type { ArtifactStore, BlobInfo } from "../store/index.js";
import { HashingFileSink } from "./file-sink.js";
import { packTarArgs, type PackOptions } from "./pack-args.js";
import { describeExit, startTool, succeeded, type RunningTool } from "./tool-process.js";

/** Chunks handed on are coalesced to this size: sha256 is much faster on 1 MiB than on 64 KiB. */
const CHUNK_BYTES = 1 << 20;

/** Packs `dir` and stores the archive with `store.putBlob`. */
export async function packTree(dir: string, store: ArtifactStore, opts: PackOptions = {}): Promise<BlobInfo> {
  return await packTreeInto(dir, (data, signal) => store.putBlob(data, { signal }), opts);
}

/** Packs `dir` into `file` (replaced atomically when complete), hashing and flushing while writing. */
export async function packTreeToFile(dir: string, file: string, opts: PackOptions = {}): Promise<BlobInfo> {
  const target = resolve(file);
  const tmp = `${target}.tmp-${randomBytes(8).toString("hex")}`;
  try {
    const info = await packTreeInto(dir, (data, signal) => writeSynced(data, tmp, signal), opts);
    await rename(tmp, target);
    return info;
  } catch (err: unknown) {
    // A failed open or rename of the file (also below the packer's own context): node's
    // message already names it.
    const namesFile = (e: Error): boolean => [tmp, target].includes((e as NodeJS.ErrnoException).path ?? "");
    if (inChain(err, namesFile)) throw StagefarmError.from(err);
    throw StagefarmError.wrap(err, `cannot write the archive of ${resolve(dir)} to ${target}`);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Writes `data` to the new file `path` (fsynced before it resolves), hashing it. */
async function writeSynced(data: Readable, path: string, signal: AbortSignal): Promise<BlobInfo> {
  const fh = await open(path, "wx");
  try {
    const sink = new HashingFileSink(fh);
    await pipeline(data, sink, { signal });
    return { digest: sink.digest(), size: sink.size };
  } finally {
    await fh.close();
  }
}

/** Takes the archive stream (which errors if packing fails) and says what it stored. */
export type ArchiveConsumer = (data: Readable, signal: AbortSignal) => Promise<BlobInfo>;

/**
 * Runs tar (with zstd) on `dir` and hands its output to `consume`. Whatever fails first (tar,
 * zstd, the consumer, the caller's signal) stops everything, and the error names the directory.
 * (Internal to the pack module; the benchmark uses it to time packing without a store.)
 */
export async function packTreeInto(
  dir: string,
  consume: ArchiveConsumer,
  opts: PackOptions = {},
): Promise<BlobInfo> {
  const root = resolve(dir);
  throwIfAborted(opts.signal);
  await assertDirectory(root);
  const args = packTarArgs(root, opts);
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const tar = await startTool("tar", args, { signal });
  try {
    const data = Readable.from(guardedOutput(tar, root), { objectMode: false, highWaterMark: CHUNK_BYTES });
    return await consume(data, signal);
  } catch (err: unknown) {
    stop.abort();
    const exit = await tar.exited;
    if (opts.signal?.aborted)
      throw new StagefarmError("cancelled", `packing ${root} was cancelled`, { cause: opts.signal.reason });
    if (inChain(err, (e) => e instanceof TarFailure)) throw StagefarmError.from(err);
    const tarFailed = !succeeded(exit) && !exit.killed;
    throw StagefarmError.wrap(err, `cannot pack ${root}${tarFailed ? `: ${describeExit("tar", exit)}` : ""}`);
  } finally {
    stop.abort();
    await tar.exited;
  }
}

/** tar's own failure; its message names the tree, so no caller adds that again. */
class TarFailure extends StagefarmError {}

/** Whether `err` or one of its causes is `what` (a store wraps a stream's error, keeping it as the cause). */
function inChain(err: unknown, what: (e: Error) => boolean): boolean {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 8; depth++, e = e.cause) if (what(e)) return true;
  return false;
}

/**
 * tar's stdout, in chunks of about {@link CHUNK_BYTES}; after the last one it waits for tar to
 * exit and throws if tar (or the zstd it runs) did not succeed, so the stream ends in an error.
 */
async function* guardedOutput(tar: RunningTool, root: string): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of tar.stdout as AsyncIterable<Buffer>) {
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes >= CHUNK_BYTES) {
      yield pending.length === 1 && pending[0] !== undefined
        ? pending[0]
        : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
    }
  }
  const exit = await tar.exited;
  if (exit.killed) throw new TarFailure("cancelled", `packing ${root} was stopped`);
  if (!succeeded(exit)) {
    const code = exit.exitCode === 1 ? "unavailable" : "internal";
    const hint = exit.exitCode === 1 ? " (the tree changed while it was being packed)" : "";
    throw new TarFailure(code, `cannot pack ${root}: ${describeExit("tar", exit)}${hint}`, {
      details: { dir: root, exitCode: exit.exitCode, signal: exit.signal },
    });
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
}

async function assertDirectory(root: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(root)).isDirectory();
  } catch (err: unknown) {
    throw StagefarmError.wrap(err, `cannot pack ${root}`);
  }
  if (!isDir) throw new StagefarmError("invalid_argument", `cannot pack ${root}: not a directory`);
}
