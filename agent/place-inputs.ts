/**
 * Places a stage's inputs in its workspace, in declaration order, before the runner starts:
 * - an upstream tree with `unpack` (the default) is unpacked at its path;
 * - an upstream file, or any artifact with `unpack: false`, is written as a file;
 * - a pinned source is fetched into the store first (verified), then placed as a file, or
 *   unpacked with `unpack: true`;
 * - a store artifact (`artifact: <digest>`, e.g. an imported seed) is placed the same way; one
 *   missing from the store is a `not_found` error telling how to import it.
 * Every path is checked first (./workspace.ts): an earlier input holding a symlink such as
 * `var -> /` cannot redirect a later one outside the workspace. No device nodes are created.
 */
import { rm } from "node:fs/promises";
import type { Logger } from "pino";
import { assertDigest } from "../shared/digest.js";
import { StagefarmError, throwIfAborted } from "../shared/errors.js";
import type { ArtifactRef, InputSpec, ResolvedStage } from "../shared/pipeline/index.js";
import type { ArtifactStore } from "../shared/store/index.js";
import { redactUrl } from "../shared/util/redact-url.js";
import { unpackBlob, unpackFile, type UnpackLimits } from "../shared/pack/index.js";
import { fetchToStore } from "./fetch-source.js";
import { shortDigest, type StageLog } from "./stage-log.js";
import { preparePlacement, privatePath } from "./workspace.js";

export interface PlaceInputsContext {
  stage: ResolvedStage;
  /** Artifacts filling the stage's upstream inputs, by input name. */
  artifacts: Readonly<Record<string, ArtifactRef>>;
  workspace: string;
  store: ArtifactStore;
  log: StageLog;
  logger: Logger;
  signal: AbortSignal;
  /** Bounds on each unpacked input (shared/pack's defaults when undefined). */
  unpackLimits?: UnpackLimits | undefined;
}

export async function placeInputs(ctx: PlaceInputsContext): Promise<void> {
  for (const input of ctx.stage.inputs) {
    throwIfAborted(ctx.signal);
    if (input.t === "stage") await placeUpstream(ctx, input);
    else if (input.t === "artifact") await placeArtifact(ctx, input);
    else await placeSource(ctx, input);
  }
}

async function placeUpstream(
  ctx: PlaceInputsContext,
  input: Extract<InputSpec, { t: "stage" }>,
): Promise<void> {
  const { stage, store, signal } = ctx;
  const what = `stage "${stage.name}" input "${input.name}" (from ${input.stage}.${input.output})`;
  const ref = ctx.artifacts[input.name];
  if (!ref) throw new StagefarmError("invalid_argument", `${what}: the job carries no artifact for it`);
  if (!(await store.statBlob(ref.digest)))
    throw new StagefarmError(
      "not_found",
      `${what}: artifact sha256 ${ref.digest} is not in the store (${store.describe})`,
      {
        details: { stage: stage.name, input: input.name, digest: ref.digest },
      },
    );
  const dest = await preparePlacement(ctx.workspace, input.path, what);
  if (ref.kind === "tree" && input.unpack) {
    ctx.log.line(`unpacking input ${input.name} (${shortDigest(ref.digest)}) into ${input.path}`);
    await naming(
      what,
      unpackBlob(store, ref.digest, dest, {
        allowDevices: false,
        limits: ctx.unpackLimits,
        signal,
      }),
    );
  } else {
    ctx.log.line(`placing input ${input.name} (${shortDigest(ref.digest)}) at ${input.path}`);
    await store.getBlobToFile(ref.digest, dest, signal);
  }
}

async function placeArtifact(
  ctx: PlaceInputsContext,
  input: Extract<InputSpec, { t: "artifact" }>,
): Promise<void> {
  const { stage, store, signal } = ctx;
  const what = `stage "${stage.name}" input "${input.name}" (artifact sha256 ${input.digest})`;
  const digest = assertDigest(input.digest, what);
  if (!(await store.statBlob(digest)))
    throw new StagefarmError(
      "not_found",
      `${what}: not in the store (${store.describe}); import the file with \`stagefarm import FILE\` and pass the digest it prints`,
      { details: { stage: stage.name, input: input.name, digest } },
    );
  const dest = await preparePlacement(ctx.workspace, input.path, what);
  if (!input.unpack) {
    ctx.log.line(`placing input ${input.name} (${shortDigest(digest)}) at ${input.path}`);
    await store.getBlobToFile(digest, dest, signal);
    return;
  }
  ctx.log.line(`unpacking input ${input.name} (${shortDigest(digest)}) into ${input.path}`);
  const archive = privatePath(ctx.workspace, `input-${digest}`);
  try {
    await store.getBlobToFile(digest, archive, signal);
    await naming(what, unpackFile(archive, dest, { allowDevices: false, limits: ctx.unpackLimits, signal }));
  } finally {
    await rm(archive, { force: true });
  }
}

async function placeSource(
  ctx: PlaceInputsContext,
  input: Extract<InputSpec, { t: "source" }>,
): Promise<void> {
  const { stage, store, signal } = ctx;
  const what = `stage "${stage.name}" input "${input.name}" (${redactUrl(input.source.url)})`;
  const blob = await fetchToStore(input.source, store, { signal, logger: ctx.logger, log: ctx.log });
  const dest = await preparePlacement(ctx.workspace, input.path, what);
  if (!input.unpack) {
    ctx.log.line(`placing input ${input.name} (${shortDigest(blob.digest)}) at ${input.path}`);
    await store.getBlobToFile(blob.digest, dest, signal);
    return;
  }
  ctx.log.line(`unpacking input ${input.name} (${shortDigest(blob.digest)}) into ${input.path}`);
  const archive = privatePath(ctx.workspace, `input-${blob.digest}`);
  try {
    await store.getBlobToFile(blob.digest, archive, signal);
    await naming(what, unpackFile(archive, dest, { allowDevices: false, limits: ctx.unpackLimits, signal }));
  } finally {
    await rm(archive, { force: true });
  }
}

/** Unpack errors (an unsafe or corrupt archive) name the stage and input they belong to. */
async function naming<T>(what: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "cancelled") throw e;
    throw StagefarmError.wrap(err, what);
  }
}
