/**
 * Notifications of a run's end: an HTTP webhook (POST of the JSON summary) and/or a command
 * (argv, no shell, the JSON on stdin). Each has a timeout; a webhook is retried with backoff on
 * a network error, a timeout, 408, 429 or 5xx. A notification that fails in the end is logged
 * and counted (`stagefarm_notifications_total{result="failed"}`) and fails nothing else.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import { redactUrl } from "../../shared/util/redact-url.js";
import { STAGEFARM_VERSION } from "../../shared/version.js";
import type { RunSummary } from "./run-summary.js";

export interface NotifyTargets {
  webhook?: string | undefined;
  command?: readonly string[] | undefined;
}

export type NotifyTarget = "webhook" | "command";
export type NotifyResult = "sent" | "failed";

export interface NotifierOptions {
  logger: Logger;
  onResult?: (target: NotifyTarget, result: NotifyResult) => void;
  webhookTimeoutMs?: number;
  /** Waits before the 2nd, 3rd… tries of a webhook (default 2 s, 10 s). */
  retryDelaysMs?: readonly number[];
  commandTimeoutMs?: number;
}

/** The variables a notification command gets from the server's environment. */
export const COMMAND_ENV_KEYS = ["PATH", "HOME", "LANG", "LC_ALL", "TZ"] as const;

function commandEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of COMMAND_ENV_KEYS) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return env;
}

export class Notifier {
  private readonly stop = new AbortController();
  private readonly pending = new Set<Promise<void>>();
  private readonly log: Logger;

  constructor(private readonly o: NotifierOptions) {
    this.log = o.logger.child({ component: "notifier" });
  }

  /** Sends `summary` to `targets` in the background; never throws. */
  send(summary: RunSummary, targets: NotifyTargets): void {
    if (this.stop.signal.aborted) return;
    const jobs: Promise<void>[] = [];
    if (targets.webhook !== undefined)
      jobs.push(this.track("webhook", summary, this.webhook(targets.webhook, summary)));
    if (targets.command !== undefined && targets.command.length > 0)
      jobs.push(this.track("command", summary, this.command(targets.command, summary)));
    for (const j of jobs) {
      this.pending.add(j);
      void j.finally(() => this.pending.delete(j));
    }
  }

  /** Resolves when every notification sent so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Stops retrying and kills running commands, then waits for them. */
  async close(): Promise<void> {
    this.stop.abort(new StagefarmError("cancelled", "shutting down"));
    await this.idle();
  }

  private async track(target: NotifyTarget, summary: RunSummary, job: Promise<void>): Promise<void> {
    try {
      await job;
      this.o.onResult?.(target, "sent");
      this.log.info({ run: summary.runId, target }, "notification sent");
    } catch (err: unknown) {
      const e = StagefarmError.from(err);
      this.o.onResult?.(target, "failed");
      this.log.error({ run: summary.runId, target, err: e }, "notification failed");
    }
  }

  private async webhook(url: string, summary: RunSummary): Promise<void> {
    const shown = redactUrl(url);
    const delays = this.o.retryDelaysMs ?? [2000, 10_000];
    const body = JSON.stringify(summary);
    for (let attempt = 0; ; attempt++) {
      const failure = await this.post(url, shown, body);
      if (failure === undefined) return;
      const delay = delays[attempt];
      if (!failure.retry || delay === undefined || this.stop.signal.aborted)
        throw new StagefarmError("unavailable", `${failure.why} (after ${attempt + 1} tries)`);
      this.log.warn(
        { run: summary.runId, attempt: attempt + 1, retryInMs: delay, err: failure.why },
        "webhook failed; retrying",
      );
      await sleep(delay, undefined, { signal: this.stop.signal });
    }
  }

  /** One POST: undefined when it was taken (2xx), else why and whether another try may help. */
  private async post(
    url: string,
    shown: string,
    body: string,
  ): Promise<{ why: string; retry: boolean } | undefined> {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": `stagefarm/${STAGEFARM_VERSION}` },
        body,
        redirect: "manual",
        signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(this.o.webhookTimeoutMs ?? 10_000)]),
      });
      await res.body?.cancel();
      if (res.ok) return undefined;
      const retry = res.status === 408 || res.status === 429 || res.status >= 500;
      return { why: `webhook ${shown} answered HTTP ${res.status}`, retry };
    } catch (err: unknown) {
      // fetch's TypeError says "fetch failed"; the reason (ECONNREFUSED, a timeout) is its cause.
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
      return { why: `webhook ${shown}: ${StagefarmError.from(err).message}${cause}`, retry: true };
    }
  }

  private async command(argv: readonly string[], summary: RunSummary): Promise<void> {
    const [file, ...args] = argv;
    if (file === undefined) return;
    const r = await execa(file, args, {
      input: JSON.stringify(summary),
      // Not the server's environment (it may hold the S3 URL with its keys, tokens): only these.
      extendEnv: false,
      env: commandEnv(),
      timeout: this.o.commandTimeoutMs ?? 60_000,
      cancelSignal: this.stop.signal,
      reject: false,
      stdout: "ignore",
      stderr: "pipe",
      maxBuffer: 64 * 1024,
    });
    if (r.failed)
      throw new StagefarmError(
        r.timedOut ? "timeout" : "unavailable",
        `notification command ${file}: ${r.timedOut ? "timed out" : r.shortMessage}${r.stderr === "" ? "" : `: ${String(r.stderr).slice(-500)}`}`,
      );
  }
}
