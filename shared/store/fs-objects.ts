/**
 * The plain objects (`binhost/…`) of the filesystem artifact store: each object is the file at
 * its path below the store root.
 *
 * - put: write a temp file in the store's `tmp/` (same filesystem), fsync, rename over the
 *   target. A reader holding the old file keeps reading the old bytes; a new reader gets the
 *   new ones; nobody sees a partial file. An abort or failure leaves the old object as it was.
 * - list: a depth-first walk that visits names in S3 key order (a directory `d` sorts as `d/`),
 *   the order a real S3 server lists in (the port itself promises no order).
 * Paths are checked by {@link assertObjectPath}, so nothing outside `<root>/binhost/` is touched.
 */
import type { Dirent } from "node:fs";
import { mkdir, open, readdir, rename, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { StagefarmError, throwIfAborted } from "../errors.js";
import { errnoOf } from "../util/fs.js";
import { randomName, unlinkIfExists, withContext, writeNewFile } from "./fs-util.js";
import { assertObjectPath, assertObjectPrefix } from "./object-paths.js";
import type { ObjectInfo, ObjectStat } from "./types.js";

export interface FsObjectsLocation {
  root: string;
  tmpDir: string;
  describe: string;
}

const ABSENT = new Set(["ENOENT", "ENOTDIR"]);
/** What mkdir/rename report when a file stands where a directory must be, or the reverse. */
const IN_THE_WAY = new Set(["EEXIST", "ENOTDIR", "EISDIR", "ENOTEMPTY"]);

export async function putObjectFile(
  loc: FsObjectsLocation,
  path: string,
  data: Readable | Buffer | string,
  signal: AbortSignal | undefined,
): Promise<ObjectStat> {
  assertObjectPath(path);
  const what = `storing ${path} in ${loc.describe}`;
  throwIfAborted(signal);
  const target = join(loc.root, path);
  const tmp = join(loc.tmpDir, `object-${randomName()}`);
  try {
    if (typeof data === "string" || Buffer.isBuffer(data))
      await writeFile(tmp, data, { flag: "wx", flush: true, signal });
    else await writeNewFile(tmp, data, undefined, signal);
    throwIfAborted(signal);
    const st = await stat(tmp);
    try {
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
    } catch (err: unknown) {
      const errno = errnoOf(err) ?? "";
      if (IN_THE_WAY.has(errno))
        throw new StagefarmError(
          "invalid_argument",
          `${what}: a directory or file is in the way (${errno})`,
          {
            cause: err,
            details: { path },
          },
        );
      throw err;
    }
    return { size: st.size, mtime: st.mtime };
  } catch (err: unknown) {
    throw withContext(err, what);
  } finally {
    await unlinkIfExists(tmp);
  }
}

function notFound(loc: FsObjectsLocation, path: string, cause?: unknown): StagefarmError {
  return new StagefarmError("not_found", `${path} not found in ${loc.describe}`, {
    cause,
    details: { path, store: loc.describe },
  });
}

export async function getObjectFile(
  loc: FsObjectsLocation,
  path: string,
  signal: AbortSignal | undefined,
): Promise<Readable> {
  assertObjectPath(path);
  const what = `reading ${path} from ${loc.describe}`;
  throwIfAborted(signal);
  let fh;
  try {
    // Open first so that a missing object is reported here, not as a stream error later.
    fh = await open(join(loc.root, path), "r");
  } catch (err: unknown) {
    if (ABSENT.has(errnoOf(err) ?? "")) throw notFound(loc, path, err);
    throw withContext(err, what);
  }
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw notFound(loc, path);
  }
  const source = fh.createReadStream({ highWaterMark: 1 << 20, signal });
  // Errors (an abort included) reach the consumer as StagefarmErrors; a consumer that stops
  // early (destroys the result) closes the file.
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  source.on("error", (err: unknown) => out.destroy(withContext(err, what)));
  out.on("close", () => source.destroy());
  source.pipe(out);
  return out;
}

async function statFile(loc: FsObjectsLocation, path: string): Promise<ObjectStat | undefined> {
  try {
    const st = await stat(join(loc.root, path));
    return st.isFile() ? { size: st.size, mtime: st.mtime } : undefined;
  } catch (err: unknown) {
    if (ABSENT.has(errnoOf(err) ?? "")) return undefined;
    throw withContext(err, `cannot stat ${path} in ${loc.describe}`);
  }
}

export async function statObjectFile(loc: FsObjectsLocation, path: string): Promise<ObjectStat | undefined> {
  return await statFile(loc, assertObjectPath(path));
}

export async function deleteObjectFile(loc: FsObjectsLocation, path: string): Promise<void> {
  assertObjectPath(path);
  try {
    await unlink(join(loc.root, path));
  } catch (err: unknown) {
    if (ABSENT.has(errnoOf(err) ?? "")) return;
    throw withContext(err, `removing ${path} from ${loc.describe}`);
  }
}

/** UTF-8 byte order, which is S3's key order. */
function keyOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

async function* walkInKeyOrder(
  loc: FsObjectsLocation,
  rel: string,
  namePrefix: string,
): AsyncGenerator<ObjectInfo> {
  let entries: Dirent[];
  try {
    entries = await readdir(join(loc.root, rel), { withFileTypes: true });
  } catch (err: unknown) {
    if (ABSENT.has(errnoOf(err) ?? "")) return;
    throw withContext(err, `cannot list ${rel} in ${loc.describe}`);
  }
  const keyed = entries
    .filter((e) => (e.isFile() || e.isDirectory()) && e.name.startsWith(namePrefix))
    .map((e) => ({ name: e.name, dir: e.isDirectory(), key: e.isDirectory() ? `${e.name}/` : e.name }))
    .sort((a, b) => keyOrder(a.key, b.key));
  for (const e of keyed) {
    const childRel = `${rel}/${e.name}`;
    if (e.dir) {
      yield* walkInKeyOrder(loc, childRel, "");
      continue;
    }
    const st = await statFile(loc, childRel);
    if (st !== undefined) yield { path: childRel, ...st };
  }
}

export async function* listObjectFiles(loc: FsObjectsLocation, prefix: string): AsyncGenerator<ObjectInfo> {
  const p = assertObjectPrefix(prefix);
  // Walk the deepest directory the prefix names; its last part filters that directory's names.
  const cut = p.lastIndexOf("/");
  yield* walkInKeyOrder(loc, p.slice(0, cut), p.slice(cut + 1));
}
