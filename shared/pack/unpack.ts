/**
 * Safe unpacking in two passes: {@link scanWithCompression} validates every entry without
 * writing anything, and only then GNU tar extracts into the destination, keeping owners, modes,
 * xattrs (file capabilities, ACLs) and device nodes where allowed. Defence in depth, should a
 * parser differential slip past the checks:
 * - GNU tar's own guards: members with ".." or absolute names are never written (no
 *   `--absolute-names`), and symlinks with absolute or ".." targets are created last, as
 *   placeholders until then, so nothing is written through them;
 * - `--delay-directory-restore`: a read-only directory mode is applied at the end, so it cannot
 *   stop extraction halfway (nor be used to hide a member from cleanup);
 * - owners are kept (`--same-owner`): a root file system needs them, and the chroot runner runs
 *   as root anyway. `--no-overwrite-dir` and `--keep-old-files` are not used: every directory
 *   is created by this extraction (the destination starts empty), and with them GNU tar no
 *   longer applies the archive's "./" entry (the root's mode and times) to the destination;
 * - afterwards (./extracted-check.ts) the tree is searched for device nodes (unless allowed)
 *   and escaping symlinks, which are refused like a check failure.
 *
 * The destination must be absent (it is created) or an empty directory. When extraction fails
 * or is cancelled, what was extracted is removed and the destination is left as it was found.
 * An archive file that changes between the passes is refused: what was checked must be what is
 * extracted.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Digest } from "../digest.js";
import { StagefarmError, throwIfAborted } from "../errors.js";
import type { ArtifactStore } from "../store/index.js";
import { tarDecompressOption, type Compression } from "./compression.js";
import { checkDest, fileIdentity, restoreDest } from "./dest-dir.js";
import { checkExtracted } from "./extracted-check.js";
import { scanWithCompression, type UnpackOptions } from "./scan-archive.js";
import { describeExit, startTool, succeeded } from "./tool-process.js";
import { pathBudgetBelow } from "./unpack-limits.js";

/** Unpacks a (zstd, xz, bzip2, gzip or plain) tar archive into `dest`, after validating it. */
export async function unpackFile(archive: string, dest: string, opts: UnpackOptions = {}): Promise<void> {
  const file = resolve(archive);
  await unpackArchiveFile(file, resolve(dest), opts, `archive ${file}`);
}

/**
 * Unpacks the artifact `digest` into `dest`: the blob is copied (verified) into a temp file next
 * to `dest`, unpacked like {@link unpackFile}, and the temp file removed.
 */
export async function unpackBlob(
  store: ArtifactStore,
  digest: Digest,
  dest: string,
  opts: UnpackOptions = {},
): Promise<void> {
  const target = resolve(dest);
  throwIfAborted(opts.signal);
  await checkDest(target);
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.${basename(target)}.${randomBytes(8).toString("hex")}.sf-archive`);
  try {
    await store.getBlobToFile(digest, tmp, opts.signal);
    await unpackArchiveFile(tmp, target, opts, `artifact ${digest}`);
  } catch (err: unknown) {
    if (opts.signal?.aborted)
      throw new StagefarmError("cancelled", `unpacking artifact ${digest} into ${target} was cancelled`, {
        cause: err,
      });
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}

async function unpackArchiveFile(
  file: string,
  dest: string,
  opts: UnpackOptions,
  label: string,
): Promise<void> {
  throwIfAborted(opts.signal);
  const state = await checkDest(dest);
  const identity = await fileIdentity(file);
  const given = opts.limits?.maxPathBytes ?? Number.MAX_SAFE_INTEGER;
  const limits = { ...opts.limits, maxPathBytes: Math.min(given, pathBudgetBelow(dest)) };
  const { compression } = await scanWithCompression(file, { ...opts, limits }, label);
  throwIfAborted(opts.signal);
  await mkdir(dest, { recursive: true });
  try {
    await extract(file, compression, dest, opts.signal, label);
    await checkExtracted(dest, opts.allowDevices ?? false, label, opts.signal);
    if ((await fileIdentity(file)) !== identity)
      throw new StagefarmError("unsafe_archive", `${label} changed while it was being unpacked into ${dest}`);
  } catch (err: unknown) {
    await restoreDest(dest, state);
    if (opts.signal?.aborted)
      throw new StagefarmError("cancelled", `unpacking ${label} into ${dest} was cancelled`, { cause: err });
    throw StagefarmError.from(err);
  }
}

async function extract(
  file: string,
  compression: Compression,
  dest: string,
  signal: AbortSignal | undefined,
  label: string,
): Promise<void> {
  const args = [
    "--extract",
    `--file=${file}`,
    ...tarDecompressOption(compression),
    "--numeric-owner",
    "--same-owner",
    "--preserve-permissions",
    "--xattrs",
    "--xattrs-include=*",
    "--delay-directory-restore",
    "-C",
    dest,
  ];
  const tar = await startTool("tar", args, { signal, stdout: "ignore" });
  const exit = await tar.exited;
  if (exit.killed) throw new StagefarmError("cancelled", `unpacking ${label} into ${dest} was cancelled`);
  if (!succeeded(exit))
    throw new StagefarmError(
      "internal",
      `cannot unpack ${label} into ${dest}: ${describeExit("tar", exit)}`,
      {
        details: { archive: label, dest, exitCode: exit.exitCode, signal: exit.signal },
      },
    );
}
