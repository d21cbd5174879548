/**
 * Collects what one Catalyst build wrote to `storedir/builds/<rel_type>/`.
 *
 * Protocol
 * - `listBuilds` records the regular files there before Catalyst runs (the placed seed may sit
 *   in the same directory); afterwards every regular file not in that list is the build's.
 *   Subdirectories (livecd-stage2's ISO staging tree) are not collected.
 * - The primary artifact is the ISO when the spec names one (`livecd/iso`), else
 *   `<target>-<subarch>-<version_stamp>.<ext>`, else the only new file that is not a side file
 *   (`.CONTENTS.gz`, `.DIGESTS`, `.sha256`), e.g. after a `rename_regexp`.
 * - Every new file is moved into the workspace directory `build/`; the primary one is also
 *   linked as `image.<ext>` (`image.tar.xz`, `image.iso`), so pipelines declare the outputs
 *   `{name: build, path: build}` and `{name: image, path: image.tar.xz}`.
 */
import { lstat, readdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { isSideFile, type SpecLayout } from "../../../shared/catalyst/index.js";
import { StagefarmError } from "../../../shared/errors.js";
import { preparePlacement } from "../../workspace.js";
import { linkOrCopy } from "./place.js";

/** Workspace directory receiving every file of the build. */
export const BUILD_DIR = "build";
/** Workspace file name (without extension) of the primary artifact. */
export const IMAGE_BASENAME = "image";

/**
 * Regular files directly in `dir`, sorted; `also` (paths relative to `dir`, e.g. an ISO in a
 * subdirectory) are added when they are regular files. Subdirectories (Catalyst's ISO staging
 * tree) are not entered.
 */
export async function listBuilds(dir: string, also: readonly string[] = []): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "not_found") return [];
    throw e;
  }
  const out = new Set<string>();
  for (const name of [...names, ...also]) {
    const st = await lstat(join(dir, name)).catch(() => undefined);
    if (st?.isFile()) out.add(name);
  }
  return [...out].sort();
}

export interface CollectedBuild {
  /** Files moved into build/, relative to builds/<rel_type>. */
  files: string[];
  /** The primary artifact (relative to builds/<rel_type>) and where it went in the workspace. */
  primary: { file: string; workspacePath: string };
}

function chooseFileExtension(primary: string, layout: SpecLayout): string {
  if (layout.iso !== undefined && primary === layout.iso) return "iso";
  const base = primary.split("/").pop() ?? primary;
  if (base.startsWith(`${layout.resultBase}.`)) return base.slice(layout.resultBase.length + 1);
  const dot = base.indexOf(".");
  return dot >= 0 ? base.slice(dot + 1) : "bin";
}

function choosePrimary(fresh: readonly string[], layout: SpecLayout, stage: string): string {
  if (layout.iso !== undefined) {
    if (fresh.includes(layout.iso)) return layout.iso;
    throw new StagefarmError(
      "stage_failed",
      `stage "${stage}": catalyst finished but wrote no ISO ${layout.iso} (wrote: ${fresh.join(", ") || "nothing"})`,
    );
  }
  const main = fresh.filter((f) => !isSideFile(f));
  const named = main.filter((f) => f.startsWith(`${layout.resultBase}.`));
  const [only] = named.length === 1 ? named : main.length === 1 ? main : [];
  if (only !== undefined) return only;
  throw new StagefarmError(
    "stage_failed",
    main.length === 0
      ? `stage "${stage}": catalyst finished but wrote no ${layout.resultBase}.* to builds/${layout.relType}`
      : `stage "${stage}": cannot tell which file catalyst built: ${main.join(", ")}`,
  );
}

export async function collectBuild(opts: {
  stage: string;
  workspace: string;
  /** Absolute storedir/builds/<rel_type>. */
  buildsDir: string;
  before: readonly string[];
  layout: SpecLayout;
  log: (line: string) => void;
}): Promise<CollectedBuild> {
  const { stage, workspace, layout } = opts;
  const known = new Set(opts.before);
  const also = layout.iso !== undefined ? [layout.iso] : [];
  const fresh = (await listBuilds(opts.buildsDir, also)).filter((f) => !known.has(f));
  const primary = choosePrimary(fresh, layout, stage);
  for (const f of fresh) {
    const dest = await preparePlacement(workspace, join(BUILD_DIR, f), `stage "${stage}" build file ${f}`);
    await rename(join(opts.buildsDir, f), dest);
    opts.log(`collected builds/${layout.relType}/${f} into ${BUILD_DIR}/`);
  }
  const image = `${IMAGE_BASENAME}.${chooseFileExtension(primary, layout)}`;
  const imagePath = await preparePlacement(workspace, image, `stage "${stage}" ${image}`);
  const built = join(workspace, BUILD_DIR, primary);
  await linkOrCopy(built, imagePath);
  opts.log(`primary artifact ${primary} is ${image}`);
  return { files: fresh, primary: { file: primary, workspacePath: image } };
}
