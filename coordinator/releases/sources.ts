/**
 * Which blobs a release of a run publishes: the `STAGE:OUTPUT` picks (default: every `file`
 * output whose path ends in an extension a release may carry, shared/release/layout.ts), each
 * resolved from the run's document; the extension is the output's own (its path in the
 * pipeline, params applied), a tree output's is `.tar.zst` (the blob is its tarball).
 */
import { basename } from "node:path";
import { StagefarmError } from "../../shared/errors.js";
import { resolvePipeline, type PipelineSpec } from "../../shared/pipeline/index.js";
import { extensionOf, type ReleaseSource } from "../../shared/release/index.js";
import { quoted } from "../../shared/util/excerpt.js";
import type { RunDoc } from "../service/run-doc.js";

const PICK_RE = /^([a-z0-9][a-z0-9_-]{0,127}):([a-z0-9][a-z0-9_-]{0,127})$/;

export function parsePick(text: string): { stage: string; output: string } {
  const m = PICK_RE.exec(text);
  if (m === null || m[1] === undefined || m[2] === undefined)
    throw new StagefarmError("invalid_argument", `expected STAGE:OUTPUT, got ${quoted(text)}`);
  return { stage: m[1], output: m[2] };
}

export function releaseSources(doc: RunDoc, spec: PipelineSpec, picks: readonly string[]): ReleaseSource[] {
  if (doc.status !== "succeeded")
    throw new StagefarmError(
      "invalid_argument",
      `run ${doc.id} is ${doc.status}; only a succeeded run is released`,
    );
  const stages = new Map(resolvePipeline(spec, doc.params).map((s) => [s.name, s]));
  const chosen =
    picks.length > 0
      ? picks.map(parsePick)
      : [...stages.values()].flatMap((s) =>
          s.outputs
            .filter(
              (o) => doc.stages[s.name]?.outputs?.[o.name]?.kind === "file" && extensionOf(basename(o.path)),
            )
            .map((o) => ({ stage: s.name, output: o.name })),
        );
  if (chosen.length === 0)
    throw new StagefarmError(
      "invalid_argument",
      `run ${doc.id} has no file output with a release extension (.tar.xz, .iso, …): name the outputs as STAGE:OUTPUT`,
    );
  return chosen.map(({ stage, output }) => {
    const out = doc.stages[stage]?.outputs?.[output];
    const spec = stages.get(stage)?.outputs.find((o) => o.name === output);
    if (out === undefined || spec === undefined)
      throw new StagefarmError("not_found", `run ${doc.id} has no output ${quoted(`${stage}:${output}`)}`);
    const ext = out.kind === "tree" ? ".tar.zst" : extensionOf(basename(spec.path));
    if (ext === undefined)
      throw new StagefarmError(
        "invalid_argument",
        `output ${stage}:${output} (${quoted(basename(spec.path))}) has no extension a release may carry (.tar.xz, .tar.zst, .iso, …)`,
      );
    return { stage, output, digest: out.digest, size: out.size, ext };
  });
}
