/**
 * Small filesystem helpers for the filesystem artifact store: temp names, quiet removal,
 * error context, streaming into a new file, and a recursive file walk that tolerates entries
 * vanishing under it.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { StagefarmError } from "../errors.js";
import { errnoOf } from "../util/fs.js";

export function randomName(): string {
  return randomBytes(12).toString("hex");
}

/** Removes a file; a file that is already gone is not an error. */
export async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err: unknown) {
    if (errnoOf(err) === "ENOENT") return;
    throw StagefarmError.wrap(err, `cannot remove ${path}`);
  }
}

/**
 * {@link StagefarmError.wrap} for what the store's own code did not already describe: a
 * StagefarmError (raised below with its blob or path named) passes through unchanged.
 */
export function withContext(err: unknown, context: string): StagefarmError {
  return err instanceof StagefarmError ? err : StagefarmError.wrap(err, context);
}

/** Directory entry names, sorted; an absent directory has none. */
export async function readdirIfExists(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err: unknown) {
    if (errnoOf(err) === "ENOENT" || errnoOf(err) === "ENOTDIR") return [];
    throw withContext(err, `cannot list ${dir}`);
  }
}

export interface WalkedFile {
  /** Path relative to the walk's base, '/'-separated. */
  rel: string;
  size: number;
  mtime: Date;
}

/** Every regular file below `dir` (depth first, sorted). Entries removed during the walk are skipped. */
export async function* walkFiles(dir: string, rel = ""): AsyncGenerator<WalkedFile> {
  for (const name of await readdirIfExists(dir)) {
    const abs = join(dir, name);
    const childRel = rel === "" ? name : `${rel}/${name}`;
    let st;
    try {
      st = await stat(abs);
    } catch (err: unknown) {
      if (errnoOf(err) === "ENOENT") continue;
      throw withContext(err, `cannot stat ${abs}`);
    }
    if (st.isDirectory()) yield* walkFiles(abs, childRel);
    else if (st.isFile()) yield { rel: childRel, size: st.size, mtime: st.mtime };
  }
}

/**
 * Streams `source` (through `through`, if given) into a new file at `path` (which must not
 * exist), fsyncs it, and resolves once the file is closed, also when it fails, so a caller's
 * cleanup never races the file being created. Memory stays bounded by the stream buffers.
 */
export async function writeNewFile(
  path: string,
  source: Readable,
  through: Transform | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  const out = createWriteStream(path, { flags: "wx", flush: true, highWaterMark: 1 << 20 });
  try {
    if (through === undefined) await pipeline(source, out, { signal });
    else await pipeline(source, through, out, { signal });
  } finally {
    if (!out.closed) await new Promise<void>((resolve) => out.once("close", () => resolve()));
  }
}
