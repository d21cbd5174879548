/**
 * Human progress for `stagefarm run`: one line per state change, emerge-like, with durations,
 * and the stage's log streamed with a `[stage]` prefix. A failure prints the log tail.
 */
import type { RunEvent } from "../coordinator/index.js";
import { formatDuration } from "../shared/util/duration.js";
import { reproLines } from "./commands/repro-format.js";
import { shortDigest, type Style } from "./output.js";

export interface ProgressOptions {
  out: NodeJS.WritableStream;
  style: Style;
  /** Stream stage logs (default true). */
  logs: boolean;
}

export class ProgressPrinter {
  private total = 0;
  /** Stages in a terminal state (one rebuilt after a corrupt cached output leaves it again). */
  private readonly finished = new Set<string>();
  private readonly partial = new Map<string, string>();

  constructor(private readonly opts: ProgressOptions) {}

  readonly onEvent = (e: RunEvent): void => {
    const { style: c } = this.opts;
    switch (e.t) {
      case "run-started":
        this.total = e.stages;
        this.line(
          c.bold(
            `>>> Running pipeline ${e.pipeline}: ${e.stages} stages, ${e.jobs} at a time (run ${e.runId})`,
          ),
        );
        return;
      case "log":
        if (this.opts.logs) this.log(e.stage, e.chunk);
        return;
      case "stage":
        return this.stage(e.stage, e.status);
      case "repro":
        if (e.repro.state === "building")
          this.line(
            `${c.cyan(">>> Repro")}    ${c.bold(e.stage)}: second build (attempt ${e.repro.second?.attempt ?? "?"}), without the cache`,
          );
        else {
          this.line(`${c.bold(">>> Repro")}    ${c.bold(e.stage)}:`);
          for (const l of reproLines(e.repro, c, "    ")) this.line(l);
        }
        return;
      case "run-finished": {
        this.flushLogs();
        const { counts } = e;
        const word =
          e.outcome === "succeeded"
            ? c.green("succeeded")
            : e.outcome === "failed"
              ? c.red("failed")
              : c.yellow("cancelled");
        this.line(
          c.bold(`>>> ${e.pipeline}: ${word} in ${formatDuration(e.durationMs)}`) +
            ` — ${counts.executed} executed, ${counts.cached} cached, ${counts.failed} failed, ${counts.skipped} skipped` +
            (counts.cancelled > 0 ? `, ${counts.cancelled} cancelled` : ""),
        );
        if (e.reproFailure !== undefined) this.line(c.red(`>>> ${e.reproFailure}`));
        return;
      }
    }
  };

  private stage(name: string, s: Extract<RunEvent, { t: "stage" }>["status"]): void {
    const c = this.opts.style;
    const n = () => `(${this.finished.add(name).size} of ${this.total})`;
    switch (s.t) {
      case "waiting":
      case "ready":
        this.finished.delete(name);
        return;
      case "running":
        this.line(
          `${c.cyan(">>> Running")}  ${c.bold(name)}${s.attempt > 1 ? ` (attempt ${s.attempt})` : ""}`,
        );
        return;
      case "cached":
        this.line(`${c.green(">>> Cached")}   ${c.bold(name)} ${n()} ${c.dim(`key ${shortDigest(s.key)}`)}`);
        return;
      case "done":
        this.flushLog(name);
        this.line(`${c.green(">>> Done")}     ${c.bold(name)} ${n()} in ${formatDuration(s.durationMs)}`);
        return;
      case "failed": {
        this.flushLog(name);
        this.line(
          `${c.red(">>> Failed")}   ${c.bold(name)} ${n()} after ${formatDuration(s.durationMs)}: ${s.error.message}`,
        );
        const tail = s.error.details["logTail"];
        if (typeof tail === "string" && tail.length > 0 && !this.opts.logs) {
          for (const l of tail.split("\n")) this.line(c.dim(`    ${l}`));
        }
        const logPath = s.error.details["logPath"];
        if (typeof logPath === "string") this.line(c.dim(`    log: ${logPath}`));
        return;
      }
      case "skipped":
        this.line(`${c.yellow(">>> Skipped")}  ${c.bold(name)} ${n()}: ${s.reason}`);
        return;
      case "cancelled":
        this.line(`${c.yellow(">>> Cancelled")} ${c.bold(name)} ${n()}`);
        return;
    }
  }

  private log(stage: string, chunk: string): void {
    const text = (this.partial.get(stage) ?? "") + chunk;
    const lines = text.split("\n");
    this.partial.set(stage, lines.pop() ?? "");
    for (const l of lines) this.line(`${this.opts.style.dim(`[${stage}]`)} ${l}`);
  }

  private flushLog(stage: string): void {
    const rest = this.partial.get(stage);
    if (rest !== undefined && rest.length > 0) this.line(`${this.opts.style.dim(`[${stage}]`)} ${rest}`);
    this.partial.delete(stage);
  }

  private flushLogs(): void {
    for (const stage of [...this.partial.keys()]) this.flushLog(stage);
  }

  private line(s: string): void {
    this.opts.out.write(`${s}\n`);
  }
}
