/**
 * The dashboard's cache and binhost page: how big the action cache is (entries, distinct
 * output bytes), how often it hits (this process's lookups from the metrics; every recorded
 * run's per pipeline from the stats records), its newest entries (`CacheEntry` messages), and
 * per binhost its size and newest packages. Reading every manifest is a walk of the store, so
 * the answer is kept for {@link TTL_MS}.
 */
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import { CacheEntrySchema } from "../../proto/gen/stagefarm/v1/service_pb.js";
import type { CacheSummary as CacheSummaryOf } from "../../shared/protocol/cache-summary.js";
import type { ArtifactStore, Manifest } from "../../shared/store/index.js";
import { cacheEntryMessage } from "../api/run-message.js";
import { listBinhosts, showBinhost } from "../binhost/views.js";
import type { CoordinatorMetrics } from "../metrics.js";
import { statsStoreFor } from "../stats/stats-store.js";

const TTL_MS = 10_000;
const NEWEST = 20;

type CacheSummary = CacheSummaryOf<JsonValue>;

function entryJson(m: Manifest): JsonValue {
  return toJson(CacheEntrySchema, cacheEntryMessage(m));
}

async function lookups(metrics: CoordinatorMetrics | undefined): Promise<CacheSummary["lookups"]> {
  const out = { stage: { hits: 0, misses: 0 }, binpkg: { hits: 0, misses: 0 } };
  const metric = metrics?.registry.getSingleMetric("stagefarm_cache_lookups_total");
  if (metric === undefined) return out;
  for (const v of (await metric.get()).values) {
    const kind =
      v.labels["kind"] === "binpkg" ? out.binpkg : v.labels["kind"] === "stage" ? out.stage : undefined;
    if (kind === undefined) continue;
    if (v.labels["result"] === "hit") kind.hits += v.value;
    else if (v.labels["result"] === "miss") kind.misses += v.value;
  }
  return out;
}

async function compute(store: ArtifactStore, metrics: CoordinatorMetrics | undefined): Promise<CacheSummary> {
  let entries = 0;
  const sizes = new Map<string, number>();
  const newest: Manifest[] = [];
  for await (const m of store.listManifests()) {
    entries++;
    for (const o of Object.values(m.outputs)) sizes.set(o.digest, o.size);
    newest.push(m);
    if (newest.length > NEWEST * 4) {
      newest.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      newest.length = NEWEST;
    }
  }
  newest.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const pipelines: CacheSummary["pipelines"] = [];
  for (const p of (await statsStoreFor(store)?.list()) ?? []) {
    const row = { pipeline: p.pipeline, runs: p.runs, hits: 0, executions: 0, failures: 0 };
    for (const s of Object.values(p.stages)) {
      row.hits += s.hits;
      row.executions += s.executions;
      row.failures += s.failures;
    }
    pipelines.push(row);
  }
  const binhosts: CacheSummary["binhosts"] = [];
  for (const b of await listBinhosts(store)) {
    const details = await showBinhost(store, b.name);
    const latest = [...details.entries].sort((x, y) => y.buildTime - x.buildTime).slice(0, 10);
    binhosts.push({
      ...b,
      newest: latest.map((e) => ({
        cpv: e.cpv,
        path: e.path,
        buildId: e.buildId,
        buildTime: e.buildTime,
        size: e.size,
        ...(e.record?.run === undefined ? {} : { run: e.record.run }),
        ...(e.record?.stage === undefined ? {} : { stage: e.record.stage }),
        ...(e.record?.agent === undefined ? {} : { agent: e.record.agent }),
      })),
    });
  }
  return {
    entries,
    outputBytes: [...sizes.values()].reduce((a, b) => a + b, 0),
    lookups: await lookups(metrics),
    pipelines,
    newest: newest.slice(0, NEWEST).map(entryJson),
    binhosts,
    computedAt: new Date().toISOString(),
  };
}

export class CacheSummaries {
  private last: { at: number; value: Promise<CacheSummary> } | undefined;

  constructor(
    private readonly store: ArtifactStore,
    private readonly metrics: CoordinatorMetrics | undefined,
  ) {}

  get(): Promise<CacheSummary> {
    const now = Date.now();
    if (this.last === undefined || now - this.last.at > TTL_MS) {
      const value = compute(this.store, this.metrics);
      this.last = { at: now, value };
      value.catch(() => {
        if (this.last?.value === value) this.last = undefined;
      });
    }
    return this.last.value;
  }
}
