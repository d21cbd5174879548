/**
 * Reading a compressed payload tar through, as portage does when it installs a binary package:
 * the bytes go through the decompressor portage would run ({@link decompressorFor}) and its
 * output through a strict tar walk ({@link TarWalker}) to the end of the archive; the rest of
 * the output is drained, and the decompressor must exit 0 (portage fails the extraction
 * otherwise: "GPKG decompressor (external program) failed", or the xpak pipeline's status).
 *
 * Streamed with backpressure: memory stays at a few buffers whatever the package size. Throws a
 * plain Error saying what failed (the decompressor's own complaint when it failed, else the tar
 * walk's), `cancelled` when `signal` aborts.
 */
import type { Readable } from "node:stream";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { execa } from "execa";
import { StagefarmError } from "../errors.js";
import { decompressorFor } from "./compression.js";
import { TarWalker } from "./tar-walk.js";
import type { BinpkgCompression } from "./types.js";
import { errnoOf } from "../util/fs.js";

const STDERR_TAIL_BYTES = 4096;

/**
 * A sink that walks the tar; after the first problem it keeps draining (discarding) the input,
 * so the decompressor runs to its end and its verdict, usually the root cause (a CRC error shows
 * as garbage first), can be reported instead.
 */
class WalkingSink extends Writable {
  readonly #walker = new TarWalker();
  problem: string | undefined;

  constructor() {
    super({ highWaterMark: 1 << 20 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.problem === undefined) this.#attempt(() => this.#walker.write(chunk));
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.problem === undefined) this.#attempt(() => this.#walker.end());
    cb();
  }

  #attempt(step: () => void): void {
    try {
      step();
    } catch (err: unknown) {
      this.problem = err instanceof Error ? err.message : String(err);
    }
  }
}

export async function readThrough(
  source: Readable,
  compression: BinpkgCompression,
  signal: AbortSignal | undefined,
): Promise<void> {
  const tool = decompressorFor(compression);
  if (tool === undefined) {
    const sink = new WalkingSink();
    try {
      await pipeline(source, sink, signal === undefined ? {} : { signal });
    } catch (err: unknown) {
      throw normalise(err, signal);
    }
    if (sink.problem !== undefined) throw new Error(sink.problem);
    return;
  }
  const sub = execa(tool.file, tool.args, {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    buffer: false,
    reject: false,
    encoding: "buffer",
    env: { LC_ALL: "C" },
    ...(signal === undefined ? {} : { cancelSignal: signal }),
  });
  let stderr = Buffer.alloc(0);
  sub.stderr.on("data", (chunk: Buffer) => {
    stderr = Buffer.concat([stderr, chunk]);
    if (stderr.length > STDERR_TAIL_BYTES) stderr = stderr.subarray(stderr.length - STDERR_TAIL_BYTES);
  });
  // A decompressor that gives up stops reading: EPIPE here; its exit status says why.
  const feeding = pipeline(source, sub.stdin).then(
    () => undefined,
    (err: unknown) => err,
  );
  const sink = new WalkingSink();
  const walking = pipeline(sub.stdout, sink).then(
    () => undefined,
    (err: unknown) => err,
  );
  const [result, fed, walked] = await Promise.all([sub, feeding, walking]);
  if (signal?.aborted || result.isCanceled)
    throw new StagefarmError("cancelled", `${tool.file} was cancelled`, { cause: signal?.reason });
  if (errnoOf(result.cause) === "ENOENT")
    throw new StagefarmError(
      "internal",
      `cannot decompress ${compression} data: ${tool.file} is not installed`,
    );
  if (result.failed) {
    const why = stderr.toString("utf8").trim().split("\n").slice(-3).join("; ");
    const how =
      result.exitCode !== undefined
        ? `exited with status ${result.exitCode}`
        : `was killed by ${result.signal ?? "a signal"}`;
    throw new Error(`${tool.file} -d cannot decompress it (${how}${why === "" ? "" : `: ${why}`})`);
  }
  if (sink.problem !== undefined) throw new Error(sink.problem);
  if (walked !== undefined) throw normalise(walked, signal);
  if (fed !== undefined && !isEpipe(fed)) throw normalise(fed, signal);
}

function isEpipe(err: unknown): boolean {
  return errnoOf(err) === "EPIPE";
}

function normalise(err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted)
    return new StagefarmError("cancelled", "reading the payload was cancelled", { cause: err });
  return err;
}
