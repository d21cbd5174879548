/** What the parse worker (./parse-worker.ts) posts back: the spec, or the error as plain data. */
import type { ErrorCode } from "../../shared/errors.js";
import type { PipelineIssue, PipelineSpec } from "../../shared/pipeline/index.js";

export type WorkerReply =
  | { ok: true; spec: PipelineSpec }
  | { ok: false; code: ErrorCode; message: string; issues?: PipelineIssue[] };
