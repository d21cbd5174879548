/**
 * `--repro` verdicts for people and tools: the lines `stagefarm run` and `run show` print under
 * a checked stage (verdict, the two builds, then per output a per-package table), and the
 * plain-data form `--json` prints (the run document's shape, coordinator/repro/verdict.ts).
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { ReproCheck } from "../../proto/gen/stagefarm/v1/repro_pb.js";
import { ReproState } from "../../proto/gen/stagefarm/v1/repro_pb.js";
import type { ReproDoc } from "../../coordinator/index.js";
import { shortDigest, type Style } from "../output.js";

const STATES: Record<ReproState, ReproDoc["state"]> = {
  [ReproState.UNSPECIFIED]: "error",
  [ReproState.BUILDING]: "building",
  [ReproState.REPRODUCIBLE]: "reproducible",
  [ReproState.DIFFERS]: "differs",
  [ReproState.ERROR]: "error",
};

/** The API's ReproCheck as the run document's verdict (one JSON shape for embedded and remote). */
export function reproDocOf(m: ReproCheck): ReproDoc & { reason?: string } {
  const build = (b: ReproCheck["first"]) => ({
    ...(b === undefined || b.attempt === 0 ? {} : { attempt: b.attempt }),
    ...(b === undefined || b.agent === "" ? {} : { agent: b.agent }),
    ...(b?.cached === true ? { cached: true } : {}),
    ...(b === undefined || b.logPath === "" ? {} : { logPath: b.logPath }),
  });
  return {
    state: STATES[m.state],
    first: build(m.first),
    ...(m.second === undefined ? {} : { second: build(m.second) }),
    startedAt: m.startedAt === undefined ? 0 : timestampMs(m.startedAt),
    ...(m.finishedAt === undefined ? {} : { finishedAt: timestampMs(m.finishedAt) }),
    ...(m.error === "" ? {} : { error: m.error }),
    ...(m.reason === "" ? {} : { reason: m.reason }),
    outputs: m.outputs.map((o) => ({
      name: o.name,
      a: o.digestA,
      b: o.digestB,
      identical: o.identical,
      summary: o.summary,
      ...(o.morePackages === 0 ? {} : { morePackages: o.morePackages }),
      packages: o.packages.map((p) => ({
        ...(p.key === "" ? {} : { key: p.key }),
        ...(p.cpvA === "" ? {} : { cpvA: p.cpvA }),
        ...(p.cpvB === "" ? {} : { cpvB: p.cpvB }),
        vdb: p.vdb,
        onlyA: p.onlyA,
        onlyB: p.onlyB,
        differing: p.differing,
        what: p.what,
        paths: p.paths,
      })),
    })),
  };
}

const WORDS: Record<ReproDoc["state"], string> = {
  building: "second build running",
  reproducible: "reproducible",
  differs: "not reproducible",
  error: "no verdict",
};

function buildName(b: ReproDoc["first"] | undefined): string {
  if (b === undefined) return "?";
  const where = b.agent === undefined ? "" : ` on ${b.agent}`;
  return b.cached === true ? `cache entry${where}` : `attempt ${b.attempt ?? "?"}${where}`;
}

/** The verdict and its per-package table, indented under the stage's line. */
export function reproLines(doc: ReproDoc & { reason?: string }, c: Style, indent = "      "): string[] {
  const colour = doc.state === "reproducible" ? c.green : doc.state === "differs" ? c.red : c.yellow;
  const head = `${indent}repro: ${colour(WORDS[doc.state])} (first: ${buildName(doc.first)}; second: ${buildName(doc.second)})`;
  const out = [head];
  if (doc.state === "building" && doc.reason !== undefined) out.push(c.dim(`${indent}  ${doc.reason}`));
  if (doc.state === "error" && doc.error !== undefined) out.push(c.dim(`${indent}  ${doc.error}`));
  for (const o of doc.outputs ?? []) {
    if (o.identical) {
      out.push(c.dim(`${indent}  ${o.name}: identical (${shortDigest(o.a)})`));
      continue;
    }
    out.push(`${indent}  ${o.name}: ${shortDigest(o.a)} → ${shortDigest(o.b)}: ${o.summary}`);
    for (const p of o.packages) {
      const name = p.cpvB ?? p.cpvA ?? p.key ?? "(owned by no package)";
      const counts = `${p.differing} differ, ${p.onlyA} only in first, ${p.onlyB} only in second`;
      const vdb = p.vdb.length === 0 ? "" : `; vdb ${p.vdb.join(", ")}`;
      out.push(
        `${indent}    ${name.padEnd(36)} ${counts}${p.what.length === 0 ? "" : ` (${p.what.join(", ")})`}${vdb}`,
      );
      for (const path of p.paths) out.push(c.dim(`${indent}      ${path}`));
    }
    if (o.morePackages !== undefined)
      out.push(c.dim(`${indent}    … ${o.morePackages} more: stagefarm diff sha256:${o.a} sha256:${o.b}`));
  }
  return out;
}
