/**
 * Expected stage durations of a pipeline from the store's history (../history.ts: the p50, else
 * `estimate:`, else 1 minute), for the dashboard's elapsed / expected and run ETA. The history
 * is read at most once a minute per pipeline; a store that cannot be read gives the estimates.
 */
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { expectedDuration } from "../history.js";
import { loadStatsReports, type PipelineStatsReport } from "./stage-stats.js";

const TTL_MS = 60_000;
const MAX_PIPELINES = 100;

export class ExpectedDurations {
  private readonly reports = new Map<
    string,
    { at: number; report: Promise<PipelineStatsReport | undefined> }
  >();

  constructor(
    private readonly store: ArtifactStore,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Each of `names` → its expected duration in ms. */
  async of(
    pipeline: string,
    names: readonly string[],
    estimates: ReadonlyMap<string, number>,
  ): Promise<Map<string, number>> {
    const report = await this.report(pipeline);
    return new Map(names.map((n) => [n, expectedDuration(report, n, estimates.get(n)).ms]));
  }

  private report(pipeline: string): Promise<PipelineStatsReport | undefined> {
    const have = this.reports.get(pipeline);
    if (have !== undefined && this.now() - have.at < TTL_MS) return have.report;
    const report = loadStatsReports(this.store, pipeline).then(
      (r) => r.find((p) => p.pipeline === pipeline),
      (err: unknown) => {
        this.log.warn(
          { pipeline, err: StagefarmError.from(err) },
          "stage history unavailable: estimates only",
        );
        return undefined;
      },
    );
    this.reports.delete(pipeline);
    this.reports.set(pipeline, { at: this.now(), report });
    for (const k of this.reports.keys()) {
      if (this.reports.size <= MAX_PIPELINES) break;
      this.reports.delete(k);
    }
    return report;
  }
}
