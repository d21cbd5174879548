/**
 * Resolves a download target to the blob it names: an output of a stage of a run (from the
 * run's document; a stage that has not produced it is not found) or a blob by digest (if the
 * store holds it). The same use case serves every transport (HTTP here, the CLI's local store).
 */
import type { Digest } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { quoted } from "../../shared/util/excerpt.js";
import type { RunDoc } from "../service/run-doc.js";
import type { DownloadTarget } from "./download-target.js";

export interface DownloadDeps {
  /** The run document of `id`; throws `not_found` for an unknown run. */
  getRun(id: string): Promise<RunDoc>;
  store: ArtifactStore;
}

export interface ResolvedDownload {
  digest: Digest;
  size: number;
  /** "tree": a tar.zst of a directory; "file": the bytes as written; "blob": a blob by digest;
   *  "release": a released file (../releases/http.ts). */
  kind: "tree" | "file" | "blob" | "release";
  /** A safe file name for Content-Disposition (only [A-Za-z0-9._+-]). */
  filename: string;
}

export async function resolveDownload(deps: DownloadDeps, t: DownloadTarget): Promise<ResolvedDownload> {
  if (t.t === "digest") {
    const info = await deps.store.statBlob(t.digest);
    if (info === undefined) throw new StagefarmError("not_found", `no artifact ${t.digest}`);
    return { digest: t.digest, size: info.size, kind: "blob", filename: t.digest };
  }
  const doc = await deps.getRun(t.run);
  const stage = doc.stages[t.stage];
  if (stage === undefined)
    throw new StagefarmError("not_found", `run ${quoted(t.run)} has no stage ${quoted(t.stage)}`);
  const out = stage.outputs?.[t.output];
  if (out === undefined)
    throw new StagefarmError(
      "not_found",
      `stage ${quoted(t.stage)} of run ${quoted(t.run)} has no output ${quoted(t.output)} (state ${stage.state})`,
    );
  return {
    digest: out.digest,
    size: out.size,
    kind: out.kind,
    filename: `${t.stage}-${t.output}${out.kind === "tree" ? ".tar.zst" : ""}`,
  };
}
