/**
 * Reading a pipeline file's text, bounded: only a regular file (a symlink to one is fine), at
 * most YAML_BOUNDS.maxBytes. The file is opened with O_NONBLOCK so a FIFO cannot block a libuv
 * thread forever, and the opened descriptor is fstat-ed, so what is checked is what is read;
 * a device (`/dev/zero`), FIFO, socket or directory is refused before a byte is read, and a file
 * that grows past the limit while it is read is refused too. Problems are `invalid_argument`
 * (`not_found` for a missing file) with one line naming the path and the fix.
 */
import { constants, type Stats } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { StagefarmError, throwIfAborted } from "../errors.js";
import { quoted } from "../util/excerpt.js";
import { YAML_BOUNDS } from "../yaml/index.js";

function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

async function openFile(path: string, shown: string): Promise<FileHandle> {
  try {
    return await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err: unknown) {
    const e = StagefarmError.from(err, "invalid_argument");
    if (e.code === "not_found")
      throw new StagefarmError("not_found", `pipeline file not found: ${shown}`, {
        cause: err,
        details: { path },
      });
    throw StagefarmError.wrap(err, `cannot read pipeline file ${shown}`, {
      fallback: "invalid_argument",
      details: { path },
    });
  }
}

/** The text of the pipeline file at `path`, checked as above. */
export async function readPipelineFile(
  path: string,
  signal?: AbortSignal,
  maxBytes: number = YAML_BOUNDS.maxBytes,
): Promise<string> {
  const shown = quoted(path, 200);
  const refuse = (why: string): StagefarmError =>
    new StagefarmError("invalid_argument", `pipeline file ${shown} ${why}`, { details: { path } });
  throwIfAborted(signal);
  const fh = await openFile(path, shown);
  try {
    const st = await fh.stat();
    if (st.isDirectory())
      throw refuse(
        `is a directory; give the pipeline file (e.g. ${quoted(join(path, "pipeline.yaml"), 200)})`,
      );
    if (!st.isFile()) throw refuse(`is ${kindOf(st)}, not a regular file; give a pipeline YAML file`);
    const tooLarge = (size: string): StagefarmError =>
      refuse(`is ${size} bytes, more than the limit of ${maxBytes} bytes for a pipeline`);
    if (st.size > maxBytes) throw tooLarge(String(st.size));
    // One byte more than the limit shows a file that grew since fstat.
    const buf = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      throwIfAborted(signal);
      const { bytesRead } = await fh.read(buf, length, buf.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw tooLarge(`more than ${maxBytes}`);
    }
    return buf.toString("utf8", 0, length);
  } finally {
    await fh.close();
  }
}
