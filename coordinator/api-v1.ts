/**
 * The body of `POST /api/v1/runs` (the embedded `stagefarm up`'s JSON API):
 * `{"pipelineYaml": TEXT, "pipelinePath": "demo/pipeline.yaml", "params": {"k": "v"}}`, the
 * field names of the dashboard's submit and of the gRPC SubmitRunRequest. The pipeline travels
 * as text; `pipelinePath` is only a label for messages (the server reads no file a client names,
 * see ./submission/pipeline-label.ts). Or `{"pipelineName": "demo", "params": …}`: one of the
 * pipelines the server offers (`up --pipelines DIR`, ./submission/named-pipelines.ts).
 */
import { StagefarmError } from "../shared/errors.js";
import { quoted } from "../shared/util/excerpt.js";
import type { SubmitRequest } from "./dashboard/dashboard.js";

/** A submission: the pipeline's text, or the name of a pipeline the server offers. */
export type SubmitBody =
  ({ t: "text" } & SubmitRequest) | { t: "named"; name: string; params: Record<string, string> };

/** The largest body: the pipeline text (at most 1 MiB, ./submission/limits.ts) JSON-escaped. */
export const SUBMIT_BODY_MAX_BYTES = 4 << 20;

const FIELDS: ReadonlySet<string> = new Set(["pipelineYaml", "pipelinePath", "pipelineName", "params"]);

export function parseSubmitBody(body: unknown): SubmitBody {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new StagefarmError("invalid_argument", "expected a JSON object");
  const fields = body as Record<string, unknown>;
  if ("pipeline" in fields)
    throw new StagefarmError(
      "invalid_argument",
      '"pipeline" (a server-side file) is no longer accepted: send the pipeline\'s text as "pipelineYaml" (and a display name as "pipelinePath")',
    );
  const unknown = Object.keys(fields).filter((k) => !FIELDS.has(k));
  if (unknown.length > 0)
    throw new StagefarmError(
      "invalid_argument",
      `unknown field ${quoted(unknown[0] ?? "", 40)} (expected pipelineYaml, pipelinePath, pipelineName, params)`,
    );
  const { pipelineYaml, pipelinePath, pipelineName, params } = fields;
  const out = parseParams(params);
  if (pipelineName !== undefined) {
    if (typeof pipelineName !== "string" || pipelineYaml !== undefined || pipelinePath !== undefined)
      throw new StagefarmError(
        "invalid_argument",
        '"pipelineName" is a string and comes without "pipelineYaml" and "pipelinePath"',
      );
    return { t: "named", name: pipelineName, params: out };
  }
  if (typeof pipelineYaml !== "string" || pipelineYaml.trim() === "")
    throw new StagefarmError("invalid_argument", '"pipelineYaml" must be the pipeline\'s text');
  if (pipelinePath !== undefined && typeof pipelinePath !== "string")
    throw new StagefarmError("invalid_argument", '"pipelinePath" must be a string (a display name)');
  return { t: "text", yaml: pipelineYaml, path: pipelinePath ?? "", params: out };
}

function parseParams(params: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (params !== undefined) {
    if (typeof params !== "object" || params === null || Array.isArray(params))
      throw new StagefarmError("invalid_argument", '"params" must be an object of strings');
    for (const [k, v] of Object.entries(params)) {
      if (typeof v !== "string")
        throw new StagefarmError("invalid_argument", `param ${quoted(k, 60)} must be a string`);
      out[k] = v;
    }
  }
  return out;
}
