/**
 * `stagefarm release --pipeline FILE …`: a release from the embedded farm's own store. The
 * embedded farm keeps no run documents, so the outputs are those `stagefarm run FILE` left in
 * the cache: the pipeline is resolved as a run would be (its `release:` inputs bound to what the
 * local pointers name now, the params given), and each picked stage must be cached. The release
 * is written by this process under the store's lock (shared/release, `lockObject`), the same use
 * case the coordinator runs; the run is recorded as `local`.
 */
import { lookupEntries, planRun, releaseSources, type RunDoc } from "../coordinator/index.js";
import type { Logger } from "../shared/log.js";
import { StagefarmError } from "../shared/errors.js";
import { resolvePipeline } from "../shared/pipeline/index.js";
import {
  bindReleaseInputs,
  PointerLocks,
  publishRelease,
  resolveReleaseInputs,
  type Promotion,
  type PublishRequest,
} from "../shared/release/index.js";
import { FsArtifactStore } from "../shared/store/index.js";
import { loadPipelineArg } from "./pipeline-arg.js";

export interface LocalReleaseOptions {
  storeDir: string;
  file: string;
  params: Record<string, string>;
  outputs: string[];
  logger: Logger;
  request: Omit<PublishRequest, "run" | "pipeline" | "seeds" | "sources">;
  signKey?: string;
}

export async function releaseLocal(o: LocalReleaseOptions): Promise<Promotion> {
  const parsed = await loadPipelineArg(o.file);
  const store = await FsArtifactStore.open(o.storeDir);
  try {
    const seeds = await resolveReleaseInputs(parsed, store);
    const spec = bindReleaseInputs(parsed, seeds);
    const plan = await planRun(
      (keys) => lookupEntries(store, keys, o.logger),
      resolvePipeline(spec, o.params),
      () => 0,
    );
    const stages: RunDoc["stages"] = {};
    for (const row of plan.rows) {
      const m =
        row.status === "cached" && row.key !== undefined ? await store.getManifest(row.key) : undefined;
      stages[row.stage] =
        m === undefined ? { state: "waiting" } : { state: "cached", key: m.key, outputs: m.outputs };
    }
    const picked =
      o.outputs.length > 0 ? o.outputs.map((p) => p.split(":")[0] ?? "") : plan.rows.map((r) => r.stage);
    const unbuilt = picked.filter((s) => stages[s]?.state !== "cached");
    if (unbuilt.length > 0 && (o.outputs.length > 0 || unbuilt.length === picked.length))
      throw new StagefarmError(
        "not_found",
        `${unbuilt.join(", ")} of ${spec.name} ${unbuilt.length === 1 ? "is" : "are"} not in the local cache: run the pipeline first (stagefarm run ${o.file})`,
      );
    const doc: RunDoc = {
      v: 1,
      id: "local",
      pipeline: spec.name,
      path: spec.file,
      yaml: spec.source,
      params: o.params,
      status: "succeeded",
      createdAt: Date.now(),
      stages,
    };
    return await publishRelease(
      {
        store,
        locks: new PointerLocks(),
        ...(o.signKey === undefined ? {} : { signingKey: { keyId: o.signKey } }),
      },
      {
        ...o.request,
        run: "local",
        pipeline: spec.name,
        seeds,
        sources: releaseSources(doc, spec, o.outputs),
      },
    );
  } finally {
    await store.close();
  }
}
