/**
 * The worker thread of ./parse-submission.ts: parses one submitted pipeline (`workerData`:
 * `{ yaml, path }`) with the ordinary parser and posts back the spec (plain data: it crosses
 * the thread boundary by structured clone) or the error as plain data.
 */
import { parentPort, workerData } from "node:worker_threads";
import { StagefarmError } from "../../shared/errors.js";
import { parsePipeline, PipelineError } from "../../shared/pipeline/index.js";
import type { WorkerReply } from "./worker-reply.js";

function reply(): WorkerReply {
  const { yaml, path } = workerData as { yaml: string; path: string };
  try {
    return { ok: true, spec: parsePipeline(yaml, path) };
  } catch (err: unknown) {
    if (err instanceof PipelineError)
      return { ok: false, code: err.code, message: err.message, issues: [...err.issues] };
    const e = StagefarmError.from(err);
    return { ok: false, code: e.code, message: e.message };
  }
}

parentPort?.postMessage(reply());
