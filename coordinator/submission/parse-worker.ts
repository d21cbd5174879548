/**
 * The worker thread of ./parse-submission.ts: parses each submitted pipeline it is sent
 * (`{ yaml, path }`) with the ordinary parser and posts back the spec (plain data: it crosses
 * the thread boundary by structured clone) or the error as plain data. It stays up between
 * parses (loading the parser costs more than most parses); the pool ends it when a parse
 * overruns its deadline or its heap.
 */
import { parentPort } from "node:worker_threads";
import { StagefarmError } from "../../shared/errors.js";
import { parsePipeline, PipelineError } from "../../shared/pipeline/index.js";
import type { WorkerReply, WorkerRequest } from "./worker-reply.js";

function reply({ yaml, path }: WorkerRequest): WorkerReply {
  try {
    return { ok: true, spec: parsePipeline(yaml, path) };
  } catch (err: unknown) {
    if (err instanceof PipelineError)
      return { ok: false, code: err.code, message: err.message, issues: [...err.issues] };
    const e = StagefarmError.from(err);
    return { ok: false, code: e.code, message: e.message };
  }
}

parentPort?.on("message", (req: WorkerRequest) => parentPort?.postMessage(reply(req)));
