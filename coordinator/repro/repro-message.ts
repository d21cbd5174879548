/** A stage's reproducibility verdict (./verdict.ts) as the API's `ReproCheck` message. */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  ReproCheckSchema,
  ReproState,
  type ReproBuildSchema,
  type ReproCheck,
} from "../../proto/gen/stagefarm/v1/repro_pb.js";
import type { ReproBuild, ReproDoc } from "./verdict.js";

const STATES: Record<ReproDoc["state"], ReproState> = {
  building: ReproState.BUILDING,
  reproducible: ReproState.REPRODUCIBLE,
  differs: ReproState.DIFFERS,
  error: ReproState.ERROR,
};

function build(b: ReproBuild | undefined): MessageInitShape<typeof ReproBuildSchema> {
  return {
    attempt: b?.attempt ?? 0,
    agent: b?.agent ?? "",
    cached: b?.cached === true,
    logPath: b?.logPath ?? "",
  };
}

/** `reason`: while the second build is queued, why no agent took it yet. */
export function reproMessage(doc: ReproDoc, reason?: string): ReproCheck {
  const m = create(ReproCheckSchema, {
    state: STATES[doc.state],
    first: build(doc.first),
    second: build(doc.second),
    error: doc.error ?? "",
    reason: doc.state === "building" ? (reason ?? "") : "",
    outputs: (doc.outputs ?? []).map((o) => ({
      name: o.name,
      digestA: o.a,
      digestB: o.b,
      identical: o.identical,
      summary: o.summary,
      morePackages: o.morePackages ?? 0,
      packages: o.packages.map((p) => ({
        key: p.key ?? "",
        cpvA: p.cpvA ?? "",
        cpvB: p.cpvB ?? "",
        vdb: p.vdb,
        onlyA: p.onlyA,
        onlyB: p.onlyB,
        differing: p.differing,
        what: p.what,
        paths: p.paths,
      })),
    })),
  });
  m.startedAt = timestampFromMs(doc.startedAt);
  if (doc.finishedAt !== undefined) m.finishedAt = timestampFromMs(doc.finishedAt);
  return m;
}
