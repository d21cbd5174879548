/**
 * Collects a stage's declared outputs after its runner succeeded: a directory is packed as a
 * deterministic tree (mtimes clamped when the stage asks for it), a regular file is stored as
 * is. Outputs the runner stored itself are taken as they are. A missing output, one of the
 * wrong kind, or one that leads outside the workspace through a symlink is an error naming
 * the stage, the output and its path.
 *
 * With `spoolDir` (a distributed agent, whose store may be away for a while) a tree is packed
 * into a file there first and then stored from the file, so that a store outage delays the
 * upload (the store retries a file upload through the outage) instead of losing the packing.
 */
import { mkdir, lstat, realpath, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { StagefarmError, throwIfAborted } from "../shared/errors.js";
import type { OutputKind, OutputSpec, ResolvedStage } from "../shared/pipeline/index.js";
import type { ArtifactStore, BlobInfo, ManifestOutput } from "../shared/store/index.js";
import { packTree, packTreeToFile, type PackOptions } from "../shared/pack/index.js";
import { clampMtimeFor, type RunnerResult } from "./runners/index.js";
import { shortDigest, type StageLog } from "./stage-log.js";
import { isInside, PRIVATE_DIR, resolveInWorkspace } from "./workspace.js";

export interface CollectOutputsContext {
  stage: ResolvedStage;
  workspace: string;
  store: ArtifactStore;
  log: StageLog;
  signal: AbortSignal;
  /** Outputs the runner already stored. */
  stored: RunnerResult["stored"];
  /** Where trees are packed before they are stored (absent: streamed straight to the store). */
  spoolDir?: string;
}

export async function collectOutputs(ctx: CollectOutputsContext): Promise<Record<string, ManifestOutput>> {
  const outputs: Record<string, ManifestOutput> = { ...ctx.stored };
  for (const out of ctx.stage.outputs) {
    if (ctx.stored?.[out.name]) continue;
    throwIfAborted(ctx.signal);
    outputs[out.name] = await collectOne(ctx, out);
  }
  return outputs;
}

const KIND_TEXT: Record<OutputKind, string> = { tree: "a tree (directory)", file: "a file" };

async function collectOne(ctx: CollectOutputsContext, out: OutputSpec): Promise<ManifestOutput> {
  const { stage, store, signal } = ctx;
  const what = `stage "${stage.name}" output "${out.name}"`;
  const abs = resolveInWorkspace(ctx.workspace, out.path, what);
  try {
    await lstat(abs);
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code !== "not_found") throw e;
    throw new StagefarmError(
      "missing_output",
      `stage "${stage.name}" did not write declared output "${out.name}" (expected at ${out.path})`,
      { details: { stage: stage.name, output: out.name, path: out.path } },
    );
  }
  const root = await realpath(ctx.workspace);
  let real: string;
  try {
    real = await realpath(abs);
  } catch (err: unknown) {
    throw new StagefarmError("missing_output", `${what}: ${out.path} is a dangling symlink`, { cause: err });
  }
  if (!isInside(root, real))
    throw new StagefarmError(
      "unsafe_archive",
      `${what}: ${out.path} leads outside the workspace (to ${real})`,
    );

  const st = await stat(real);
  const found: OutputKind | undefined = st.isDirectory() ? "tree" : st.isFile() ? "file" : undefined;
  if (!found)
    throw new StagefarmError(
      "missing_output",
      `${what}: ${out.path} is neither a regular file nor a directory`,
    );
  if (out.kind && out.kind !== found)
    throw new StagefarmError(
      "missing_output",
      `${what} is declared as ${KIND_TEXT[out.kind]} but ${out.path} is ${KIND_TEXT[found]}`,
      { details: { stage: stage.name, output: out.name, path: out.path, declared: out.kind, found } },
    );

  let blob: BlobInfo;
  if (found === "tree") {
    ctx.log.line(`packing output ${out.name} (${out.path})`);
    // Packing the workspace itself must not take stagefarm's private area along.
    const exclude = real === root ? [...out.exclude, `./${PRIVATE_DIR}`] : out.exclude;
    const pack = { exclude, clampMtimeSec: clampMtimeFor(stage), signal };
    blob =
      ctx.spoolDir === undefined
        ? await packTree(real, store, pack)
        : await spooled(ctx.spoolDir, real, pack, store);
  } else {
    ctx.log.line(`storing output ${out.name} (${out.path})`);
    blob = await store.putBlobFile(real, { signal });
  }
  ctx.log.line(`output ${out.name}: ${found} ${shortDigest(blob.digest)}, ${blob.size} bytes`);
  return { digest: blob.digest, size: blob.size, kind: found };
}

/** Packs the tree into a file of `dir`, stores the file, removes it. */
async function spooled(
  dir: string,
  real: string,
  pack: PackOptions,
  store: ArtifactStore,
): Promise<BlobInfo> {
  await mkdir(dir, { recursive: true });
  // Outputs are collected one after another: one file name serves them all.
  const file = join(dir, "output.tar.zst");
  try {
    const packed = await packTreeToFile(real, file, pack);
    return await store.putBlobFile(file, {
      expected: packed.digest,
      ...(pack.signal === undefined ? {} : { signal: pack.signal }),
    });
  } finally {
    await rm(file, { force: true });
  }
}
