/**
 * What a download URL names, parsed from hostile input: the path segments of
 *
 *   /api/v1/runs/{run}/stages/{stage}/outputs/{name}   an output of a stage of a run
 *   /api/v1/artifacts/{digest}                          any blob of the store, by sha256
 *
 * Each segment is decoded once and checked against the grammar of what it names (run ids,
 * pipeline names, lowercase sha256 hex): `..`, `/` or `\` (also as `%2f`/`%5c`), NUL and
 * over-long names are refused before anything is looked up. A name is only ever used as a key
 * into the run document, never as a path.
 */
import { isDigest, type Digest } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import { excerpt } from "../../shared/util/excerpt.js";

export type DownloadTarget =
  { t: "output"; run: string; stage: string; output: string } | { t: "digest"; digest: Digest };

const RUN_RE = /^[A-Za-z0-9_-]{1,128}$/;
/** Stage and output names (shared/pipeline/rules.ts NAME_RE), bounded. */
const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,127}$/;
const OUTPUT_PATH = /^\/api\/v1\/runs\/([^/]*)\/stages\/([^/]*)\/outputs\/([^/]*)$/;
const DIGEST_PATH = /^\/api\/v1\/artifacts\/([^/]*)$/;
const MAX_SEGMENT = 512;

function decoded(raw: string, what: string, re: RegExp): string {
  if (raw.length > MAX_SEGMENT) throw new StagefarmError("invalid_argument", `${what} is too long`);
  let s: string;
  try {
    s = decodeURIComponent(raw);
  } catch (err: unknown) {
    throw new StagefarmError("invalid_argument", `${what} is not valid URL encoding`, { cause: err });
  }
  return checked(s, what, re);
}

function checked(s: string, what: string, re: RegExp): string {
  if (s.length > MAX_SEGMENT || !re.test(s))
    throw new StagefarmError("invalid_argument", `invalid ${what} ${JSON.stringify(excerpt(s, 80))}`);
  return s;
}

/** The target named by plain (not URL-encoded) fields, as a gRPC request carries them. */
export function targetOf(f: {
  runId: string;
  stage: string;
  output: string;
  digest: string;
}): DownloadTarget {
  if (f.digest !== "") {
    if (f.runId !== "" || f.stage !== "" || f.output !== "")
      throw new StagefarmError("invalid_argument", "name either a digest or run_id, stage and output");
    return { t: "digest", digest: checked(f.digest, "digest", /^[0-9a-f]{64}$/) };
  }
  return {
    t: "output",
    run: checked(f.runId, "run id", RUN_RE),
    stage: checked(f.stage, "stage name", NAME_RE),
    output: checked(f.output, "output name", NAME_RE),
  };
}

/** The target of a download path; undefined when `path` is not a download route. */
export function parseDownloadPath(path: string): DownloadTarget | undefined {
  const o = OUTPUT_PATH.exec(path);
  if (o !== null)
    return {
      t: "output",
      run: decoded(o[1] ?? "", "run id", RUN_RE),
      stage: decoded(o[2] ?? "", "stage name", NAME_RE),
      output: decoded(o[3] ?? "", "output name", NAME_RE),
    };
  const d = DIGEST_PATH.exec(path);
  if (d !== null) {
    const digest = decoded(d[1] ?? "", "digest", /^[0-9a-f]{64}$/);
    if (!isDigest(digest)) throw new StagefarmError("invalid_argument", "invalid digest");
    return { t: "digest", digest };
  }
  return undefined;
}

/** Whether `path` is under a download route (so a malformed one is refused, not routed elsewhere). */
export function isDownloadPath(path: string): boolean {
  return /^\/api\/v1\/(artifacts\/|runs\/[^/]*\/stages\/[^/]*\/outputs\/)/.test(path);
}
