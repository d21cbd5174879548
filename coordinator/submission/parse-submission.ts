/**
 * Parsing a submitted pipeline off the event loop. Every server-side submission (the gRPC
 * SubmitRun, the dashboard's submit, `stagefarm up`'s `POST /api/v1/runs`) goes through one
 * {@link SubmissionParser}: the text is refused above {@link SubmissionLimits.maxBytes} before
 * anything reads it; then a `worker_threads` Worker runs the ordinary parser with a heap limit
 * and a wall-clock deadline, after which it is terminated and the submission refused
 * (`invalid_pipeline`). Workers are kept between parses (at most `concurrency` of them) and
 * replaced after one is terminated. At most `concurrency` parses run at once and `maxWaiting` wait; more is
 * `unavailable`. So a hostile document (an alias bomb, 40k keys) costs a worker, never the
 * server's event loop: health checks, other requests and signals are served meanwhile.
 *
 * The spec crosses back by structured clone: it is plain data (strings, numbers, arrays, plain
 * objects; runner data is YAML converted to JS), which a test checks against an in-thread parse.
 */
import { Worker } from "node:worker_threads";
import { StagefarmError } from "../../shared/errors.js";
import { PipelineError, type PipelineSpec } from "../../shared/pipeline/index.js";
import { Semaphore } from "./semaphore.js";
import type { WorkerReply, WorkerRequest } from "./worker-reply.js";
import { errnoOf } from "../../shared/util/fs.js";

export interface SubmissionLimits {
  /** Largest pipeline text in UTF-8 bytes (default 4 MiB, the pipeline bound: shared/yaml/bounds.ts). */
  maxBytes: number;
  /** Wall-clock deadline of one parse (default 10 s). */
  timeoutMs: number;
  /** Heap of a parse worker in MiB (default 512: a 4 MiB pipeline of 20,000 stages takes ~380). */
  heapMb: number;
  /** Parses at once (default 2). */
  concurrency: number;
  /** Parses waiting for a turn before more are refused (default 16). */
  maxWaiting: number;
}

export const DEFAULT_SUBMISSION_LIMITS: SubmissionLimits = {
  maxBytes: 4 << 20,
  timeoutMs: 10_000,
  heapMb: 512,
  concurrency: 2,
  maxWaiting: 16,
};

const WORKER = new URL("./parse-worker.js", import.meta.url);

function mib(bytes: number): string {
  return `${Math.round((bytes / (1 << 20)) * 10) / 10} MiB`;
}

export class SubmissionParser {
  private readonly limits: SubmissionLimits;
  private readonly slots: Semaphore;
  /** Workers parsing now, and workers waiting for the next parse. */
  private readonly running = new Set<Worker>();
  private readonly idle: Worker[] = [];
  private closed = false;

  constructor(limits: Partial<SubmissionLimits> = {}) {
    this.limits = { ...DEFAULT_SUBMISSION_LIMITS, ...limits };
    this.slots = new Semaphore(this.limits.concurrency, this.limits.maxWaiting);
  }

  /** Parses running in a worker now. */
  get parsing(): number {
    return this.running.size;
  }

  /** The spec of `yaml` (labelled `path` in messages), parsed in a worker within the limits. */
  async parse(yaml: string, path: string): Promise<PipelineSpec> {
    const bytes = Buffer.byteLength(yaml, "utf8");
    if (bytes > this.limits.maxBytes)
      throw new StagefarmError(
        "invalid_pipeline",
        `the pipeline is ${mib(bytes)}; the largest accepted is ${mib(this.limits.maxBytes)}`,
      );
    const release = await this.slots.acquire();
    try {
      if (this.closed) throw new StagefarmError("unavailable", "the server is shutting down");
      return await this.inWorker(yaml, path);
    } finally {
      release();
    }
  }

  /** An idle worker, or a new one (the parser loads once per worker, not once per parse). */
  private take(): Worker {
    const idle = this.idle.pop();
    if (idle !== undefined) return idle;
    const { heapMb } = this.limits;
    const worker = new Worker(WORKER, {
      resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: Math.min(32, heapMb) },
    });
    // An idle worker keeps no process alive; a busy one has its deadline timer for that.
    worker.unref();
    // A worker that dies while idle leaves the pool (its 'error' is followed by 'exit'; a busy
    // worker's are handled by its parse).
    worker.on("error", () => undefined);
    worker.once("exit", () => {
      const i = this.idle.indexOf(worker);
      if (i >= 0) this.idle.splice(i, 1);
    });
    return worker;
  }

  private inWorker(yaml: string, path: string): Promise<PipelineSpec> {
    const { timeoutMs, heapMb } = this.limits;
    const worker = this.take();
    this.running.add(worker);
    return new Promise<PipelineSpec>((resolve, reject) => {
      let settled = false;
      const finish = (keep: boolean, fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        worker.off("message", onMessage).off("error", onError).off("exit", onExit);
        this.running.delete(worker);
        if (keep && !this.closed) this.idle.push(worker);
        else void worker.terminate();
        fn();
      };
      const timer = setTimeout(
        () =>
          finish(false, () =>
            reject(
              new StagefarmError(
                "invalid_pipeline",
                `the pipeline took longer than ${timeoutMs / 1000} s to parse; refused`,
              ),
            ),
          ),
        timeoutMs,
      );
      const onMessage = (r: WorkerReply): void =>
        finish(true, () => {
          if (r.ok) resolve(r.spec);
          else
            reject(
              r.issues === undefined ? new StagefarmError(r.code, r.message) : new PipelineError(r.issues),
            );
        });
      const onError = (err: unknown): void =>
        finish(false, () =>
          reject(
            errnoOf(err) === "ERR_WORKER_OUT_OF_MEMORY"
              ? new StagefarmError(
                  "invalid_pipeline",
                  `the pipeline needed more than ${heapMb} MiB of memory to parse; refused`,
                  { cause: err },
                )
              : StagefarmError.from(err),
          ),
        );
      const onExit = (code: number): void =>
        finish(false, () =>
          reject(
            this.closed
              ? new StagefarmError("unavailable", "the server is shutting down")
              : new StagefarmError("internal", `the pipeline parser exited (${code}) without an answer`),
          ),
        );
      worker.on("message", onMessage).on("error", onError).on("exit", onExit);
      const req: WorkerRequest = { yaml, path };
      worker.postMessage(req);
    });
  }

  /** Terminates running parses (they fail with `unavailable`) and refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    this.slots.close(new StagefarmError("unavailable", "the server is shutting down"));
    const all = [...this.running, ...this.idle.splice(0)];
    await Promise.allSettled(all.map((w) => w.terminate()));
  }
}
