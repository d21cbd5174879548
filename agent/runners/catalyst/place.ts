/**
 * Puts the catalyst runner's file inputs where Catalyst looks for them under its storedir:
 * the seed at `builds/<source_subpath>.<ext>` (the extension from the seed's first bytes, never
 * its name) and the snapshot at `snapshots/<repo_name>-<treeish>.sqfs`. Files are hard-linked
 * from the workspace (same file system, no copy of gigabytes), copied when linking fails.
 */
import { copyFile, link, lstat, mkdir, open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  pathNameProblem,
  seedExtensionFromMagic,
  seedExtensionFromName,
  subpathProblem,
  SEED_EXTENSIONS,
} from "../../../shared/catalyst/index.js";
import { StagefarmError } from "../../../shared/errors.js";
import { resolveInWorkspace } from "../../workspace.js";
import { errnoOf } from "../../../shared/util/fs.js";

/** Hard-links `from` to `to` (creating its directory), copying when a link is impossible. */
export async function linkOrCopy(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  try {
    await link(from, to);
  } catch (err: unknown) {
    const code = errnoOf(err);
    if (code !== "EXDEV" && code !== "EPERM" && code !== "EMLINK") throw StagefarmError.from(err);
    await copyFile(from, to);
  }
}

/** A workspace file input given by a `with` key; `invalid_pipeline` when it is not a regular file. */
export async function inputFile(
  workspace: string,
  rel: string,
  stage: string,
  key: string,
  problem = "",
): Promise<string> {
  const abs = resolveInWorkspace(workspace, rel, `stage "${stage}" with.${key}`);
  const st = await lstat(abs).catch(() => undefined);
  if (!st?.isFile())
    throw new StagefarmError(
      "invalid_pipeline",
      `stage "${stage}": ${problem}with.${key} "${rel}" is not a file in the workspace (declare a file input placed there)`,
    );
  return abs;
}

async function firstBytes(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * The extension Catalyst will recognise the seed by, from the seed's content (its magic bytes):
 * Catalyst picks the decompressor by the extension it finds, so a `.tar.xz` name on a gzip file
 * would be unpacked with the wrong tool. The file name is only compared, for the log.
 */
export async function seedExtension(
  path: string,
  stage: string,
): Promise<{ ext: string; nameSays: string | undefined }> {
  const head = await firstBytes(path, 512);
  const byMagic = seedExtensionFromMagic(head);
  const nameSays = seedExtensionFromName(basename(path));
  if (byMagic !== undefined) return { ext: byMagic, nameSays };
  const zstd = head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
  throw new StagefarmError(
    "invalid_pipeline",
    `stage "${stage}": the seed ${basename(path)} is ${zstd ? "zstd-compressed, which Catalyst cannot unpack" : "not an archive Catalyst can unpack"} (it accepts xz, bzip2, gzip, squashfs and plain tar: ${SEED_EXTENSIONS.map((e) => `.${e}`).join(" ")})`,
  );
}

/** Places the seed for `sourceSubpath`; returns its path relative to storedir. */
export async function placeSeed(opts: {
  seed: string;
  storedir: string;
  sourceSubpath: string;
  stage: string;
  log?: (line: string) => void;
}): Promise<string> {
  // Checked by the schema and specLayout already; placing is where a bad one would do harm.
  const problem = subpathProblem(opts.sourceSubpath);
  if (problem !== undefined)
    throw new StagefarmError("invalid_pipeline", `stage "${opts.stage}": source_subpath ${problem}`);
  const { ext, nameSays } = await seedExtension(opts.seed, opts.stage);
  if (nameSays !== undefined && nameSays !== ext)
    opts.log?.(`the seed is named as .${nameSays} but its content is .${ext}: placed as .${ext}`);
  const rel = join("builds", `${opts.sourceSubpath}.${ext}`);
  await linkOrCopy(opts.seed, join(opts.storedir, rel));
  return rel;
}

/** Places the snapshot as `snapshots/<name>`; returns its path relative to storedir. */
export async function placeSnapshot(opts: {
  snapshot: string;
  storedir: string;
  name: string;
}): Promise<string> {
  const problem = pathNameProblem(opts.name);
  if (problem !== undefined)
    throw new StagefarmError(
      "invalid_pipeline",
      `the snapshot's file name in storedir/snapshots: ${problem}`,
    );
  const rel = join("snapshots", opts.name);
  await linkOrCopy(opts.snapshot, join(opts.storedir, rel));
  return rel;
}
