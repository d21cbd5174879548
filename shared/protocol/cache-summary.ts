/**
 * The JSON of the dashboard's cache page (`GET /api/cache`): the coordinator writes it
 * (coordinator/dashboard/cache-summary.ts), the dashboard reads it (web/src/pages/cache-page.tsx).
 * `Entry` is the shape of a newest entry as each side sees it: `CacheEntry` proto3 JSON.
 */
export interface CacheSummary<Entry = unknown> {
  entries: number;
  /** Bytes of the distinct outputs the entries name. */
  outputBytes: number;
  /** Action-cache and binhost package lookups since this coordinator started. */
  lookups: { stage: { hits: number; misses: number }; binpkg: { hits: number; misses: number } };
  /** From the recorded runs of each pipeline (filesystem stores keep these records). */
  pipelines: Array<{ pipeline: string; runs: number; hits: number; executions: number; failures: number }>;
  /** The newest entries, as `CacheEntry` JSON. */
  newest: Entry[];
  binhosts: Array<{
    name: string;
    packages: number;
    bytes: number;
    timestamp: number;
    newest: Array<{
      cpv: string;
      path: string;
      buildId: number;
      buildTime: number;
      size: number;
      run?: string;
      stage?: string;
      agent?: string;
    }>;
  }>;
  computedAt: string;
}
