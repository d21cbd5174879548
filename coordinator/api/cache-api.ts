/**
 * The action-cache RPCs of StagefarmService over the farm's store, of which the coordinator is
 * the single writer: list, show, look up (plan), remove, collect, and the recorded history
 * (stats). The operations are ../cache/'s, shared with the CLI on a local store; this file
 * converts requests and reports, nothing else. Roles: coordinator/auth/rpc-roles.ts.
 */
import type { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ServiceImpl } from "../../shared/grpc/index.js";
import { collectGarbage, type ArtifactStore } from "../../shared/store/index.js";
import { findEntries, listEntries, lookupEntries, removeEntries } from "../cache/cache-entries.js";
import { DEFAULT_KEEP_RUNS_FOR_MS, farmGcRoots } from "../cache/gc-roots.js";
import type { RunDoc } from "../service/run-doc.js";
import { loadStatsReports } from "../stats/stage-stats.js";
import { cacheEntryMessage } from "./run-message.js";

type CacheRpcs =
  "listCache" | "getCacheEntry" | "collectCache" | "lookupCache" | "removeCacheEntries" | "getStats";

type CacheApi = Pick<ServiceImpl<typeof StagefarmService>, CacheRpcs>;

export interface CacheApiDeps {
  store: ArtifactStore;
  /** Every run the coordinator keeps (their recent ones are roots of a collection). */
  listRuns: () => Promise<RunDoc[]>;
}

const MAX_PAGE = 500;

function pageStart(token: string): number {
  const start = token === "" ? 0 : Number(token);
  if (!Number.isInteger(start) || start < 0)
    throw new StagefarmError("invalid_argument", "invalid page_token");
  return start;
}

/** A duration field: 0 is the default; negative or beyond a century is refused. */
function durationMs(v: bigint, field: string): number | undefined {
  if (v === 0n) return undefined;
  if (v < 0n || v > 100n * 365n * 86_400_000n)
    throw new StagefarmError("invalid_argument", `${field} must be between 0 and 100 years`);
  return Number(v);
}

export function createCacheApi(deps: CacheApiDeps): CacheApi {
  const { store } = deps;
  return {
    async listCache(req) {
      const pageSize = Math.min(req.pageSize === 0 ? 100 : req.pageSize, MAX_PAGE);
      const all = await listEntries(store, {
        ...(req.pipeline === "" ? {} : { pipeline: req.pipeline }),
        ...(req.stage === "" ? {} : { stage: req.stage }),
      });
      const start = pageStart(req.pageToken);
      return {
        entries: all.slice(start, start + pageSize).map(cacheEntryMessage),
        nextPageToken: start + pageSize < all.length ? String(start + pageSize) : "",
      };
    },

    async getCacheEntry(req) {
      if (req.keyOrPrefix === "") throw new StagefarmError("invalid_argument", "key_or_prefix is required");
      const [m] = await findEntries(store, [req.keyOrPrefix]);
      if (m === undefined) throw new StagefarmError("internal", "no entry resolved");
      return { entry: cacheEntryMessage(m) };
    },

    async lookupCache(req) {
      // A reader's question changes nothing: a broken entry is a miss, repaired by the engine.
      return { entries: (await lookupEntries(store, req.keys, undefined)).map(cacheEntryMessage) };
    },

    async removeCacheEntries(req) {
      if (req.keysOrPrefixes.length === 0)
        throw new StagefarmError("invalid_argument", "keys_or_prefixes is required");
      return { removed: (await removeEntries(store, req.keysOrPrefixes)).map(cacheEntryMessage) };
    },

    async collectCache(req, ctx) {
      const olderThan = durationMs(req.olderThanMs, "older_than_ms");
      const grace = durationMs(req.graceMs, "grace_ms");
      const keepRunsFor = durationMs(req.keepRunsForMs, "keep_runs_for_ms") ?? DEFAULT_KEEP_RUNS_FOR_MS;
      const report = await collectGarbage(store, {
        dryRun: req.dryRun,
        signal: ctx.signal,
        roots: farmGcRoots(store, deps.listRuns, keepRunsFor),
        ...(olderThan === undefined ? {} : { maxManifestAgeMs: olderThan }),
        ...(grace === undefined ? {} : { blobGraceMs: grace }),
      });
      return {
        entriesKept: report.manifestsKept,
        entriesRemoved: report.manifestsRemoved.length,
        blobsRemoved: report.blobsRemoved.length,
        bytesFreed: BigInt(report.bytesFreed),
        logsRemoved: report.logsRemoved.length,
        removedKeys: report.manifestsRemoved,
        removedBlobs: report.blobsRemoved.map((b) => ({
          digest: b.digest,
          size: BigInt(b.size),
          kind: "blob",
        })),
        removedLogs: report.logsRemoved,
        rootsKept: report.rootsKept,
      };
    },

    async getStats(req) {
      const reports = await loadStatsReports(store, req.pipeline === "" ? undefined : req.pipeline);
      return {
        store: store.describe,
        pipelines: reports.map((p) => ({
          pipeline: p.pipeline,
          runs: p.runs,
          stages: p.stages.map((r) => ({
            stage: r.stage,
            executions: r.executions,
            hasDurations: r.p50Ms !== undefined,
            p50Ms: BigInt(Math.round(r.p50Ms ?? 0)),
            p90Ms: BigInt(Math.round(r.p90Ms ?? 0)),
            hits: r.hits,
            failures: r.failures,
            lookups: r.lookups,
          })),
        })),
      };
    },
  };
}
