/**
 * Where `stagefarm cache`, `plan` and `stats` read (and `cache rm|gc` change) the action cache
 * and the recorded history: a local store, a farm's S3 store read directly, or a farm through
 * its coordinator (./farm-source.ts). One interface, so each command is written once.
 */
import {
  findEntries,
  listEntries,
  loadStatsReports,
  lookupEntries,
  releaseRoots,
  removeEntries,
  type CacheLookup,
  type PipelineStatsReport,
} from "../../coordinator/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import { collectGarbage, type ArtifactStore, type Manifest } from "../../shared/store/index.js";

export interface CacheGcOptions {
  dryRun: boolean;
  olderThanMs?: number;
  graceMs?: number;
  /** A farm's runs hold their outputs this long after they finish (only a farm keeps runs). */
  keepRunsForMs?: number;
}

export interface CacheGcReport {
  manifestsRemoved: string[];
  manifestsKept: number;
  blobsRemoved: Array<{ digest: string; size: number }>;
  bytesFreed: number;
  logsRemoved: string[];
  rootsKept: number;
}

export interface StatsAnswer {
  /** The store the history was read from. */
  store: string;
  pipelines: PipelineStatsReport[];
}

export interface CacheSource {
  /** Said on stderr by every command: which store is used, and how. */
  readonly where: string;
  list(): Promise<Manifest[]>;
  /** The entry of a whole key or unique prefix. */
  find(prefix: string): Promise<Manifest>;
  /** Removes the entries named; all resolved first. */
  remove(prefixes: readonly string[]): Promise<Manifest[]>;
  gc(opts: CacheGcOptions): Promise<CacheGcReport>;
  lookup: CacheLookup;
  stats(pipeline: string | undefined): Promise<StatsAnswer>;
}

/** A store this process opens itself: read-write (the local store) or read-only (a farm's S3 read directly). */
export class StoreCacheSource implements CacheSource {
  constructor(
    private readonly store: ArtifactStore,
    readonly where: string,
    /** The lookups of a writer repair broken entries as the engine does; a reader's change nothing. */
    private readonly writer: Logger | undefined,
  ) {}

  list(): Promise<Manifest[]> {
    return listEntries(this.store);
  }

  async find(prefix: string): Promise<Manifest> {
    const [m] = await findEntries(this.store, [prefix]);
    if (m === undefined) throw new StagefarmError("internal", "no entry resolved");
    return m;
  }

  remove(prefixes: readonly string[]): Promise<Manifest[]> {
    return removeEntries(this.store, prefixes);
  }

  async gc(opts: CacheGcOptions): Promise<CacheGcReport> {
    if (opts.keepRunsForMs !== undefined)
      throw new StagefarmError(
        "invalid_argument",
        "--keep-runs-for applies to a farm's runs: pass --coordinator HOST:PORT (or set STAGEFARM_COORDINATOR)",
      );
    return collectGarbage(this.store, {
      dryRun: opts.dryRun,
      roots: releaseRoots(this.store),
      ...(opts.olderThanMs === undefined ? {} : { maxManifestAgeMs: opts.olderThanMs }),
      ...(opts.graceMs === undefined ? {} : { blobGraceMs: opts.graceMs }),
    });
  }

  lookup: CacheLookup = (keys) => lookupEntries(this.store, keys, this.writer);

  async stats(pipeline: string | undefined): Promise<StatsAnswer> {
    return { store: this.store.describe, pipelines: await loadStatsReports(this.store, pipeline) };
  }
}
