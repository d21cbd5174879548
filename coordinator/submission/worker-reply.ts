/** The messages between ./parse-submission.ts and its worker (./parse-worker.ts). */
import type { ErrorCode } from "../../shared/errors.js";
import type { PipelineIssue, PipelineSpec } from "../../shared/pipeline/index.js";

export interface WorkerRequest {
  yaml: string;
  path: string;
}

export type WorkerReply =
  | { ok: true; spec: PipelineSpec }
  | { ok: false; code: ErrorCode; message: string; issues?: PipelineIssue[] };
