/**
 * A farm's action cache and history through its coordinator (the store's single writer) over
 * gRPC: viewer RPCs for ls/show/plan/stats, admin RPCs for rm/gc. Messages become the same
 * records a local store gives, so the commands print both alike.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { MAX_CACHE_KEYS, type CacheLookup, type PipelineStatsReport } from "../../coordinator/index.js";
import type { CacheEntry, StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import type { PipelineStats } from "../../proto/gen/stagefarm/v1/stats_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import type { GrpcClient } from "../../shared/grpc/index.js";
import type { Manifest } from "../../shared/store/index.js";
import type { CacheGcOptions, CacheGcReport, CacheSource, StatsAnswer } from "./source.js";

type Client = GrpcClient<typeof StagefarmService>;

const PAGE = 500;

export function manifestOf(e: CacheEntry): Manifest {
  const kind = (k: string): "tree" | "file" => {
    if (k === "tree" || k === "file") return k;
    throw new StagefarmError("internal", `the coordinator sent an output of kind ${JSON.stringify(k)}`);
  };
  return {
    v: 1,
    key: e.key,
    pipeline: e.pipeline,
    stage: e.stage,
    runner: e.runner,
    outputs: Object.fromEntries(
      e.outputs.map((o) => [o.name, { digest: o.digest, size: Number(o.size), kind: kind(o.kind) }]),
    ),
    ...(e.log === "" ? {} : { log: e.log }),
    createdAt: new Date(e.createdAt === undefined ? 0 : timestampMs(e.createdAt)).toISOString(),
    durationMs: Number(e.durationMs),
    producer: e.producer,
  };
}

export function statsOf(p: PipelineStats): PipelineStatsReport {
  return {
    pipeline: p.pipeline,
    runs: p.runs,
    stages: p.stages.map((s) => ({
      stage: s.stage,
      executions: s.executions,
      hits: s.hits,
      failures: s.failures,
      lookups: s.lookups,
      ...(s.hasDurations ? { p50Ms: Number(s.p50Ms), p90Ms: Number(s.p90Ms) } : {}),
      ...(s.lookups > 0 ? { hitRatio: s.hits / s.lookups } : {}),
    })),
  };
}

export class FarmCacheSource implements CacheSource {
  constructor(
    private readonly client: Client,
    readonly where: string,
  ) {}

  async list(): Promise<Manifest[]> {
    const all: Manifest[] = [];
    let pageToken = "";
    do {
      const r = await this.client.listCache({ pageSize: PAGE, pageToken });
      all.push(...r.entries.map(manifestOf));
      pageToken = r.nextPageToken;
    } while (pageToken !== "");
    return all;
  }

  async find(prefix: string): Promise<Manifest> {
    const r = await this.client.getCacheEntry({ keyOrPrefix: prefix });
    if (r.entry === undefined) throw new StagefarmError("internal", "the coordinator sent no entry");
    return manifestOf(r.entry);
  }

  async remove(prefixes: readonly string[]): Promise<Manifest[]> {
    const r = await this.client.removeCacheEntries({ keysOrPrefixes: [...prefixes] });
    return r.removed.map(manifestOf);
  }

  async gc(opts: CacheGcOptions): Promise<CacheGcReport> {
    // 0 on the wire is "the server's default": a duration of 0 given here goes as 1 ms.
    const ms = (v: number | undefined): bigint => (v === undefined ? 0n : BigInt(Math.max(1, Math.round(v))));
    const r = await this.client.collectCache({
      dryRun: opts.dryRun,
      olderThanMs: ms(opts.olderThanMs),
      graceMs: ms(opts.graceMs),
      keepRunsForMs: ms(opts.keepRunsForMs),
    });
    return {
      manifestsRemoved: r.removedKeys,
      manifestsKept: r.entriesKept,
      blobsRemoved: r.removedBlobs.map((b) => ({ digest: b.digest, size: Number(b.size) })),
      bytesFreed: Number(r.bytesFreed),
      logsRemoved: r.removedLogs,
      rootsKept: r.rootsKept,
    };
  }

  lookup: CacheLookup = async (keys) => {
    const hits: Manifest[] = [];
    for (let i = 0; i < keys.length; i += MAX_CACHE_KEYS) {
      const r = await this.client.lookupCache({ keys: keys.slice(i, i + MAX_CACHE_KEYS) });
      hits.push(...r.entries.map(manifestOf));
    }
    return hits;
  };

  async stats(pipeline: string | undefined): Promise<StatsAnswer> {
    const r = await this.client.getStats({ pipeline: pipeline ?? "" });
    return { store: r.store, pipelines: r.pipelines.map(statsOf) };
  }
}
