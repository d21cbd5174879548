/**
 * The `logs/` part of the filesystem artifact store: atomic writes (temp file in the store's
 * `tmp/`, fsync, rename), reads, listing by prefix and removal. Paths are checked by
 * {@link assertLogPath}, so nothing outside `<root>/logs/` is ever touched.
 */
import { mkdir, open, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { StagefarmError } from "../errors.js";
import { errnoOf } from "../util/fs.js";
import { randomName, unlinkIfExists, walkFiles, withContext, writeNewFile } from "./fs-util.js";
import { assertLogPath, assertLogPrefix, checkRange, LOGS_PREFIX } from "./layout.js";
import type { ByteRange, LogInfo } from "./types.js";

export interface FsLogsLocation {
  root: string;
  tmpDir: string;
  describe: string;
}

export async function putLogFile(loc: FsLogsLocation, path: string, data: Readable | string): Promise<void> {
  assertLogPath(path);
  const target = join(loc.root, path);
  const tmp = join(loc.tmpDir, `log-${randomName()}`);
  try {
    if (typeof data === "string") await writeFile(tmp, data, { flag: "wx", flush: true });
    else await writeNewFile(tmp, data, undefined, undefined);
    await mkdir(dirname(target), { recursive: true });
    await rename(tmp, target);
  } catch (err: unknown) {
    throw withContext(err, `storing log ${path} in ${loc.describe}`);
  } finally {
    await unlinkIfExists(tmp);
  }
}

export async function getLogFile(loc: FsLogsLocation, path: string, range?: ByteRange): Promise<Readable> {
  assertLogPath(path);
  const target = join(loc.root, path);
  const r = checkRange(range);
  try {
    // Open first so that a missing log is reported here, not as a stream error later.
    const fh = await open(target, "r");
    if (r.end !== undefined && r.end <= r.start) {
      await fh.close();
      return Readable.from([]);
    }
    return fh.createReadStream({
      highWaterMark: 1 << 20,
      start: r.start,
      ...(r.end === undefined ? {} : { end: r.end - 1 }),
    });
  } catch (err: unknown) {
    if (errnoOf(err) === "ENOENT" || errnoOf(err) === "ENOTDIR")
      throw new StagefarmError("not_found", `log ${path} not found in ${loc.describe}`, { cause: err });
    throw withContext(err, `reading log ${path} from ${loc.describe}`);
  }
}

export async function* listLogFiles(loc: FsLogsLocation, prefix = LOGS_PREFIX): AsyncGenerator<LogInfo> {
  const p = assertLogPrefix(prefix);
  // Walk only the deepest directory the prefix names, then filter by the full prefix.
  const dirRel = p.slice(0, p.lastIndexOf("/"));
  for await (const f of walkFiles(join(loc.root, dirRel), dirRel)) {
    if (f.rel.startsWith(p)) yield { path: f.rel, size: f.size, mtime: f.mtime };
  }
}

export async function deleteLogFile(loc: FsLogsLocation, path: string): Promise<void> {
  assertLogPath(path);
  await unlinkIfExists(join(loc.root, path));
}
