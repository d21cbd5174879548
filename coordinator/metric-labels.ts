/**
 * Bounds on the label values of a metric. Pipeline and stage names come from pipeline files, so
 * a pipeline with thousands of stages (or thousands of pipelines) must not make thousands of
 * series: each label keeps the first `limit` distinct values it sees and reports every later
 * one as `other`. Values are never rewritten otherwise; odd characters are escaped by the
 * exposition format itself.
 */

/** The value reported once a label has seen its limit of distinct values. */
export const OTHER = "other";

export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(readonly limit: number) {}

  /** `value` itself while it is one of the first `limit` distinct values seen, else `other`. */
  value(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.limit) return OTHER;
    this.seen.add(value);
    return value;
  }

  get size(): number {
    return this.seen.size;
  }
}

/**
 * Pipeline and stage labels together: at most `pipelines` pipelines and `stages` (pipeline,
 * stage) pairs; a pipeline beyond the bound is reported as (`other`, `other`), a stage beyond it
 * as (its pipeline, `other`).
 */
export class StageLabels {
  private readonly pipelines: BoundedLabel;
  private readonly stages: BoundedLabel;

  constructor(limits: { pipelines: number; stages: number }) {
    this.pipelines = new BoundedLabel(limits.pipelines);
    this.stages = new BoundedLabel(limits.stages);
  }

  pipeline(pipeline: string): string {
    return this.pipelines.value(pipeline);
  }

  of(pipeline: string, stage: string): { pipeline: string; stage: string } {
    const p = this.pipelines.value(pipeline);
    if (p === OTHER && pipeline !== OTHER) return { pipeline: OTHER, stage: OTHER };
    // NUL cannot appear in a name from a file path or YAML key, so the pair key is unambiguous.
    return { pipeline: p, stage: this.stages.value(`${p}\u0000${stage}`) === OTHER ? OTHER : stage };
  }
}
