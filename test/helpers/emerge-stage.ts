/**
 * Helpers for the emerge runner tests: the path of the emerge double, a resolved emerge stage,
 * and a runner context over a fresh workspace that records the stage log.
 */
import { mkdtemp } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunnerContext } from "../../agent/runners/common/index.js";
import { silentLogger } from "../../shared/log.js";
import type { ResolvedStage } from "../../shared/pipeline/index.js";
import type { ArtifactStore } from "../../shared/store/index.js";

/** test/doubles/emerge-double.sh in the source tree (tests run from dist/test/…). */
export const EMERGE_DOUBLE = join(
  dirname(fileURLToPath(import.meta.url)),
  "../../../test/doubles/emerge-double.sh",
);

export function emergeStage(w: Record<string, unknown>, over: Partial<ResolvedStage> = {}): ResolvedStage {
  return {
    pipeline: "test",
    name: "cross",
    runner: "emerge",
    requires: [],
    inputs: [],
    outputs: [],
    env: {},
    sources: [],
    with: w,
    timeoutMs: 120_000,
    retries: 0,
    clampMtime: false,
    platform: "linux/x86_64",
    paramsUsed: [],
    ...over,
  };
}

export interface EmergeTestContext {
  ctx: RunnerContext;
  /** Everything the runner wrote to the stage log so far. */
  output: () => string;
}

/** A context over a fresh workspace below `dir`. */
export async function emergeContext(
  dir: string,
  stage: ResolvedStage,
  store: ArtifactStore,
  opts: { jobs?: number; signal?: AbortSignal } = {},
): Promise<EmergeTestContext> {
  const workspace = await mkdtemp(join(dir, "ws-"));
  let text = "";
  const decoder = new TextDecoder();
  const ctx: RunnerContext = {
    stage,
    workspace,
    store,
    signal: opts.signal ?? new AbortController().signal,
    logger: silentLogger(),
    jobs: opts.jobs ?? 4,
    log: { write: (c) => (text += typeof c === "string" ? c : decoder.decode(c, { stream: true })) },
  };
  return { ctx, output: () => text };
}
