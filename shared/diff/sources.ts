/**
 * The things `stagefarm diff` compares, each turned into one tar stream for ./tree-index.ts:
 *
 * - an archive file (a farm tree artifact, a stage3 or seed `.tar.{xz,zst,gz,bz2}`, a plain
 *   tar): decompressed by the tool its magic bytes call for, while GNU tar lists the same file
 *   and must agree member by member (as before unpacking, shared/pack/gnu-listing.ts);
 * - a directory: `tar --create` of it (POSIX format, numeric owners, xattrs, names sorted);
 * - an ISO 9660 image: its files extracted with xorriso and every squashfs in it with
 *   unsquashfs into a temporary directory (removed afterwards), then read as a directory.
 *   Without those tools it is refused, naming the packages to install.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, open, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { StagefarmError } from "../errors.js";
import {
  decompressCommand,
  detectCompression,
  compareListings,
  startGnuListing,
  describeExit,
  startTool,
  succeeded,
  type ToolExit,
} from "../pack/index.js";
import { indexTarStream, type IndexOptions, type TreeIndex } from "./tree-index.js";

export type TreeSource =
  { t: "archive"; file: string; label: string } | { t: "dir"; dir: string; label: string };

export async function indexSource(src: TreeSource, opts: IndexOptions): Promise<TreeIndex> {
  if (src.t === "dir") return indexDirectory(src.dir, src.label, opts);
  const kind = await imageKind(src.file);
  if (kind === "iso") return indexIso(src.file, src.label, opts);
  if (kind === "squashfs")
    throw new StagefarmError(
      "invalid_argument",
      `${src.label} is a squashfs image: compare the ISO that holds it, or unpack it with unsquashfs and compare the directories`,
    );
  return indexArchive(src.file, src.label, opts);
}

/** ISO 9660 ("CD001" at byte 32769) or squashfs ("hsqs" at 0); anything else is read as tar. */
async function imageKind(file: string): Promise<"iso" | "squashfs" | "other"> {
  const buf = Buffer.alloc(6);
  const fh = await open(file, "r").catch((err: unknown) => {
    throw StagefarmError.wrap(err, `cannot read ${file}`);
  });
  try {
    const head = await fh.read(buf, 0, 4, 0);
    if (head.bytesRead === 4 && buf.subarray(0, 4).toString("latin1") === "hsqs") return "squashfs";
    const iso = await fh.read(buf, 0, 5, 32769);
    return iso.bytesRead === 5 && buf.subarray(0, 5).toString("latin1") === "CD001" ? "iso" : "other";
  } finally {
    await fh.close();
  }
}

async function indexArchive(file: string, label: string, opts: IndexOptions): Promise<TreeIndex> {
  const compression = await detectCompression(file, label);
  const what = compression === "none" ? label : `${label} (${compression})`;
  const listing = await startGnuListing(file, compression, opts.signal);
  try {
    const command = decompressCommand(compression, file);
    const tool = command ? await startTool(command.file, command.args, { signal: opts.signal }) : undefined;
    const source = tool ? tool.stdout : createReadStream(file, { highWaterMark: 1 << 20 });
    // On a reader failure the pipeline closes the decompressor's stdout (it dies of SIGPIPE):
    // its own exit tells a damaged compressed stream from a damaged tar inside a good one.
    const read = await indexTarStream(source, what, label, { ...opts, keepMembers: true }).then(
      (index) => ({ index }),
      (err: unknown) => ({ err }),
    );
    const exit = tool ? await tool.exited : undefined;
    // An entry refused by the validator was read whole: that refusal is the answer, whatever
    // the decompressor said after its output was closed (SIGPIPE, or zstd's own read/write error).
    // As in shared/pack/scan-archive.ts, a refusal comes before the tool's exit.
    if ("err" in read && read.err instanceof StagefarmError && read.err.details["entry"] !== undefined)
      throw read.err;
    if (exit !== undefined && !exit.killed && exit.signal !== "SIGPIPE" && !succeeded(exit))
      throw new StagefarmError(
        "unsafe_archive",
        `${what} is truncated or corrupt: ${describeExit(compression, exit)}`,
        { details: { archive: label } },
      );
    if ("err" in read) throw read.err;
    const index = read.index;
    compareListings(label, what, index.members, await listing.result);
    index.members = [];
    return index;
  } finally {
    await listing.stop();
  }
}

/** GNU tar's POSIX archive of a directory, as the farm packs trees (names sorted, numeric ids). */
export async function indexDirectory(dir: string, label: string, opts: IndexOptions): Promise<TreeIndex> {
  const st = await stat(dir).catch((err: unknown) => {
    throw new StagefarmError("not_found", `cannot read ${label}: ${StagefarmError.from(err).message}`, {
      cause: err,
    });
  });
  if (!st.isDirectory()) throw new StagefarmError("invalid_argument", `${label} is not a directory`);
  const tool = await startTool(
    "tar",
    [
      "--create",
      "--file=-",
      "--format=posix",
      "--pax-option=delete=atime,delete=ctime",
      "--numeric-owner",
      "--xattrs",
      "--xattrs-include=*",
      "--sort=name",
      "--one-file-system",
      `--directory=${dir}`,
      ".",
    ],
    { signal: opts.signal },
  );
  let index: TreeIndex;
  try {
    index = await indexTarStream(tool.stdout, label, label, opts);
  } catch (err: unknown) {
    tool.kill();
    await tool.exited;
    throw err;
  }
  const exit: ToolExit = await tool.exited;
  if (!succeeded(exit))
    throw new StagefarmError("unavailable", `cannot read ${label}: ${describeExit("tar", exit)}`, {
      details: { dir: label },
    });
  return index;
}

const ISO_TOOLS =
  "comparing ISO images needs xorriso (Debian: xorriso; Gentoo: dev-libs/libisoburn) and unsquashfs (Debian and Gentoo: squashfs-tools)";

async function indexIso(file: string, label: string, opts: IndexOptions): Promise<TreeIndex> {
  const work = await mkdtemp(join(tmpdir(), "stagefarm-diff-iso-"));
  try {
    const root = join(work, "iso");
    await runTool("xorriso", ["-osirrox", "on", "-indev", file, "-extract", "/", root], label, opts);
    for (const image of await squashfsImages(root))
      await runTool("unsquashfs", ["-no-progress", "-quiet", "-d", `${image}.contents`, image], label, opts);
    const index = await indexDirectory(root, label, opts);
    // The extraction directory's own mtime is when it was extracted, not the image's.
    const top = index.entries.get(".");
    if (top !== undefined) top.mtime = "0";
    return index;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function runTool(file: string, args: string[], label: string, opts: IndexOptions): Promise<void> {
  const tool = await startTool(file, args, { signal: opts.signal, stdout: "ignore" }).catch(
    (err: unknown) => {
      throw new StagefarmError("invalid_argument", `${ISO_TOOLS}: cannot run ${file}`, { cause: err });
    },
  );
  const exit = await tool.exited;
  if (!succeeded(exit))
    throw new StagefarmError("invalid_argument", `cannot read ${label}: ${describeExit(file, exit)}`);
}

/** `*.squashfs` and `*.sqfs` files anywhere in the extracted ISO (Gentoo's is image.squashfs). */
async function squashfsImages(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !/\.(squashfs|sqfs)$/.test(e.name)) continue;
    const full = join(e.parentPath, e.name);
    if (!relative(root, full).startsWith("..")) out.push(full);
  }
  return out;
}
