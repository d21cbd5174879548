/**
 * Shared pieces of the agent-hardening tests: resolved stages and jobs made by hand, a failure
 * catcher, and the chroot stage shape the chroot runner tests use.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { sha256 } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import type { StageJob } from "../../shared/job.js";
import type { ArtifactRef, InputSpec, OutputSpec, ResolvedStage } from "../../shared/pipeline/index.js";

export const pos = { file: "pipeline.yaml", line: 1, col: 1 };

export function shellStage(name: string, script: string, over: Partial<ResolvedStage> = {}): ResolvedStage {
  return {
    pipeline: "hardening",
    name,
    runner: "shell",
    requires: [],
    inputs: [],
    outputs: [],
    env: {},
    script,
    sources: [],
    with: {},
    timeoutMs: 120_000,
    retries: 0,
    clampMtime: true,
    platform: "linux/x86_64",
    paramsUsed: [],
    ...over,
  };
}

/** A chroot stage whose root is the tree input `base` placed at `rootfs`. */
export function chrootStage(name: string, script: string, over: Partial<ResolvedStage> = {}): ResolvedStage {
  return shellStage(name, script, {
    runner: "chroot",
    inputs: [
      { t: "stage", name: "base", stage: "bootstrap", output: "rootfs", path: "rootfs", unpack: true, pos },
    ],
    clampMtime: false,
    ...over,
  });
}

export function output(name: string, path: string, extra: Partial<OutputSpec> = {}): OutputSpec {
  return { name, path, exclude: [], pos, ...extra };
}

export function upstreamInput(name: string, path: string, unpack = true): InputSpec {
  return { t: "stage", name, stage: "up", output: name, path, unpack, pos };
}

export function job(stage: ResolvedStage, inputs: Record<string, ArtifactRef> = {}, attempt = 1): StageJob {
  const runId = `run-${randomBytes(4).toString("hex")}`;
  return { runId, stage, key: sha256(`${runId}/${stage.name}`), inputs, attempt };
}

/** The StagefarmError `p` rejects with (fails the test when it resolves). */
export async function failure(p: Promise<unknown>): Promise<StagefarmError> {
  const e = await p.then(
    () => assert.fail("expected the stage to fail"),
    (err: unknown) => err,
  );
  assert.ok(e instanceof StagefarmError, `not a StagefarmError: ${String(e)}`);
  return e;
}
