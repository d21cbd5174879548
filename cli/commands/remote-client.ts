/**
 * The actions of the commands against a remote coordinator (registered in ./remote.ts, which
 * loads this module when one runs): the gRPC client and what submit, runs, run show, logs,
 * cancel, retry, agents, drain and undrain do with it. A token is never sent in clear text to a
 * coordinator on another host unless `--insecure`.
 */
import { basename, dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { isLoopbackHost } from "../../coordinator/auth/index.js";
import {
  AttemptOutcome,
  DispatchEnd,
  type Attempt,
  type Dispatch,
  type Run,
  type StageRun,
} from "../../proto/gen/stagefarm/v1/run_pb.js";
import type { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import type { GrpcClient } from "../../shared/grpc/index.js";
import { parseParamArgs } from "../../shared/pipeline/index.js";
import { readPipelineArg } from "../pipeline-arg.js";
import { readSecretFile } from "../../shared/secret-file.js";
import { LineStamper, timeAt, type LogTimes } from "../../shared/log-times.js";
import { formatDuration } from "../../shared/util/duration.js";
import { readPem } from "../../shared/util/fs.js";
import type { CliContext } from "../context.js";
import { clientConfig, type ClientFlags } from "../distributed-config.js";
import { makeStyle, shortDigest, type Style } from "../output.js";
import type { WatchStatus } from "../watch-status.js";
import { remoteSummary, runStatusName, runStatusNumber, stageStateName } from "./remote-format.js";
import type { LogsFlags } from "./remote.js";
import { reproDocOf, reproLines } from "./repro-format.js";
import { reproRequestOf, type ReproFlags } from "./repro-options.js";

type Client = GrpcClient<typeof StagefarmService>;

interface Connection {
  client: Client;
  tls: boolean;
  /** Whether `err` is an `unavailable` that grpc-js made itself: no server answered. */
  noServer: (err: unknown) => boolean;
}

async function connect(flags: ClientFlags): Promise<Connection> {
  const cfg = await clientConfig(flags, process.env);
  const host = cfg.address.slice(0, cfg.address.lastIndexOf(":"));
  if (cfg.token !== undefined && cfg.tls === undefined && !isLoopbackHost(host) && !cfg.insecure)
    throw new StagefarmError(
      "invalid_argument",
      `refusing to send a token in clear text to ${cfg.address}: pass --ca (the farm CA; or --tls), or --insecure`,
    );
  const { clientSecurity, createGrpcClient, TransportError } = await import("../../shared/grpc/index.js");
  const { Metadata } = await import("@grpc/grpc-js");
  const { StagefarmService: service } = await import("../../proto/gen/stagefarm/v1/service_pb.js");
  const t = cfg.tls;
  const security = clientSecurity(
    t === undefined
      ? undefined
      : {
          ...(t.ca === undefined ? {} : { ca: await readPem(t.ca, "CA") }),
          ...(t.cert === undefined ? {} : { cert: await readPem(t.cert, "client certificate") }),
          ...(t.key === undefined ? {} : { key: await readSecretFile(t.key, "client key") }),
        },
  );
  const metadata = new Metadata();
  if (cfg.token !== undefined) metadata.set("authorization", `Bearer ${cfg.token}`);
  const client = createGrpcClient(service, cfg.address, security.credentials, {
    metadata,
    channelOptions: security.channelOptions,
  });
  const noServer = (err: unknown): boolean => err instanceof TransportError && err.code === "unavailable";
  return { client, tls: t !== undefined, noServer };
}

/** What to check when no connection could be made (the coordinator's log says why it refused one). */
function connectionHint(err: unknown, c: Connection): unknown {
  if (!(err instanceof StagefarmError) || !c.noServer(err)) return err;
  const hint = c.tls
    ? "check --ca (the CA of the coordinator's certificate) and, if it requires client certificates, --cert and --key; the coordinator logs why it refused a TLS connection"
    : "is the coordinator running there, and does it use TLS (then pass --ca)?";
  return new StagefarmError("unavailable", `${err.message}\n${hint}`, { details: err.details, cause: err });
}

export async function withClient<T>(flags: ClientFlags, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = await connect(flags);
  try {
    return await fn(c.client);
  } catch (err: unknown) {
    throw connectionHint(err, c);
  } finally {
    c.client.close();
  }
}

function stageLine(s: StageRun, c: Style): string {
  const state = stageStateName(s.state);
  const colour =
    state === "failed"
      ? c.red
      : state === "done" || state === "cached"
        ? c.green
        : state === "skipped" || state === "cancelled"
          ? c.yellow
          : c.cyan;
  const extra =
    state === "failed"
      ? `: ${s.error}`
      : (state === "waiting" || state === "ready") && s.reason !== ""
        ? c.dim(` (${s.reason})`)
        : s.agent !== ""
          ? c.dim(` on ${s.agent}`)
          : "";
  return `${colour(state.padEnd(9))} ${s.name}${extra}${s.cacheKey !== "" ? c.dim(` key ${shortDigest(s.cacheKey)}`) : ""}`;
}

/**
 * A stage's attempts, when there is more to say than its state (several, one that failed, or one
 * dispatched more than once), each followed by its dispatches when it had several.
 */
function attemptLines(s: StageRun, c: Style): string[] {
  const a = s.attempts;
  if (
    a.length === 0 ||
    (a.length === 1 && a[0]?.outcome === AttemptOutcome.SUCCEEDED && (a[0]?.dispatches.length ?? 0) <= 1)
  )
    return [];
  return a.flatMap((t) => [
    attemptLine(t, c),
    ...(t.dispatches.length > 1 ? t.dispatches.map((d) => dispatchLine(d, c)) : []),
  ]);
}

/** One dispatch: "dispatch 1 on a1: 12:00:01–12:00:09, agent lost". */
function dispatchLine(d: Dispatch, c: Style): string {
  const end =
    d.end === DispatchEnd.ACTIVE
      ? "running"
      : (DispatchEnd[d.end] ?? "unknown").toLowerCase().replaceAll("_", " ");
  const at = (t: Dispatch["startedAt"]) =>
    t === undefined ? "?" : new Date(timestampMs(t)).toISOString().slice(11, 19);
  const when =
    d.startedAt === undefined
      ? "not claimed"
      : `${at(d.startedAt)}–${d.finishedAt === undefined ? "" : at(d.finishedAt)}`;
  return c.dim(`        dispatch ${d.number}${d.agent === "" ? "" : ` on ${d.agent}`}: ${when}, ${end}`);
}

function attemptLine(t: Attempt, c: Style): string {
  const outcome = (AttemptOutcome[t.outcome] ?? "unknown").toLowerCase().replace("_", " ");
  const took =
    t.startedAt !== undefined && t.finishedAt !== undefined
      ? `, ${formatDuration(timestampMs(t.finishedAt) - timestampMs(t.startedAt))}`
      : "";
  return c.dim(
    `      attempt ${t.number}${t.agent === "" ? "" : ` on ${t.agent}`}: ${outcome}${took}${t.error === "" ? "" : ` (${t.error})`}`,
  );
}

/** "  repro: 1 reproducible, 1 differs" for a run with `--repro` checks; "" without. */
function reproCounts(r: Run): string {
  const counts = new Map<string, number>();
  for (const s of r.stages)
    if (s.repro !== undefined) {
      const state = reproDocOf(s.repro).state;
      counts.set(state, (counts.get(state) ?? 0) + 1);
    }
  return counts.size === 0 ? "" : `  repro: ${[...counts].map(([k, v]) => `${v} ${k}`).join(", ")}`;
}

function printRun(r: Run, ctx: CliContext, c: Style): void {
  const lines = [
    c.bold(`run ${r.id}: ${r.pipeline} (${r.pipelinePath}) — ${runStatusName(r.status)}`),
    ...Object.entries(r.params).map(([k, v]) => c.dim(`  param ${k}=${v}`)),
    ...r.stages.flatMap((s) => [
      `  ${stageLine(s, c)}`,
      ...attemptLines(s, c),
      ...(s.repro === undefined ? [] : reproLines(reproDocOf(s.repro), c)),
    ]),
    ...(r.error === "" ? [] : [c.red(`  ${r.error}`)]),
  ];
  ctx.stdout.write(`${lines.join("\n")}\n`);
}

/**
 * Prefixes lines with their times from the log's index (GetLogTimes, fetched page by page as the
 * log is read); a line past what the index covered when asked (a running stage's newer output)
 * gets the time it arrived here.
 */
class RemoteLineTimes {
  private times: LogTimes = { offsets: [], unixMs: [] };
  private end = 0;
  private more = true;
  private indexed = false;
  readonly stamper = new LineStamper((offset) => {
    const ms = offset >= this.end ? Date.now() : this.indexed ? timeAt(this.times, offset) : undefined;
    return ms === undefined ? `${"-".padEnd(24)} ` : `${new Date(ms).toISOString()} `;
  });

  constructor(
    private readonly client: Client,
    private readonly req: { runId: string; stage: string; attempt: number },
  ) {}

  /** Stamps a chunk of the log, fetching the index's pages it needs first. */
  async push(data: Uint8Array, offset: number): Promise<Buffer> {
    while (this.more && this.end < offset + data.length) {
      const res = await this.client.getLogTimes({ ...this.req, fromOffset: BigInt(this.end) });
      // Pages follow each other (each starts at the previous one's end): kept together, as a
      // chunk may span two.
      res.offsets.forEach((o, i) => {
        this.times.offsets.push(Number(o));
        this.times.unixMs.push(Number(res.unixMs[i] ?? 0n));
      });
      this.indexed = res.indexed;
      this.more = res.more;
      // An index that covers nothing more (a running attempt's, as far as it goes) ends here.
      if (Number(res.end) <= this.end && this.end > 0) this.more = false;
      this.end = Number(res.end);
    }
    return this.stamper.push(data, offset);
  }
}

const exitFor = (status: string): number => (status === "succeeded" ? 0 : status === "cancelled" ? 130 : 1);

export async function submit(
  file: string,
  opts: { param: string[]; watch?: boolean; json?: boolean } & ClientFlags & ReproFlags,
  ctx: CliContext,
): Promise<void> {
  const repro = reproRequestOf(opts);
  // A regular file within the size limit only (no /dev/zero, FIFO or directory).
  const yaml = await readPipelineArg(file);
  await withClient(opts, async (client) => {
    const { run } = await client.submitRun({
      pipelineYaml: yaml,
      // A label, not a path the server reads. It keeps a directory, which names a pipeline
      // without a `pipeline:` key as a local run would.
      pipelinePath: dirname(file) === "." ? join(basename(resolve(".")), basename(file)) : file,
      params: parseParamArgs(opts.param),
      ...(repro === undefined ? {} : { reproStages: [...repro.stages], reproStrict: repro.strict }),
    });
    if (run === undefined) throw new StagefarmError("internal", "coordinator returned no run");
    const out = opts.json === true ? ctx.stderr : ctx.stdout;
    out.write(`>>> submitted run ${run.id} (${run.pipeline}, ${run.stages.length} stages)\n`);
    if (opts.watch !== true) {
      if (opts.json === true)
        ctx.stdout.write(
          `${JSON.stringify({ run: run.id, pipeline: run.pipeline, status: runStatusName(run.status) })}\n`,
        );
      return;
    }
    const c = makeStyle(ctx.color(out));
    const tty = (out as NodeJS.WriteStream).isTTY === true ? (out as NodeJS.WriteStream) : undefined;
    using live =
      tty === undefined || opts.json === true
        ? undefined
        : await watchStatus(client, run.pipeline, yaml, tty, c);
    const final = await watch(client, run.id, out, c, live);
    if (opts.json === true) ctx.stdout.write(`${JSON.stringify(remoteSummary(final))}\n`);
    ctx.setExitCode(exitFor(runStatusName(final.status)));
  });
}

export async function runs(
  opts: { status?: string; pipeline?: string; json?: boolean } & ClientFlags,
  ctx: CliContext,
): Promise<void> {
  await withClient(opts, async (client) => {
    const status = opts.status === undefined ? undefined : runStatusNumber(opts.status);
    if (status === 0)
      throw new StagefarmError(
        "invalid_argument",
        `unknown status "${opts.status ?? ""}" (running, succeeded, failed, cancelled)`,
      );
    const statuses = status === undefined ? [] : [status];
    const res = await client.listRuns({ statuses, pipeline: opts.pipeline ?? "", pageSize: 200 });
    if (opts.json === true) {
      ctx.stdout.write(`${JSON.stringify(res.runs.map(remoteSummary))}\n`);
      return;
    }
    for (const r of res.runs) {
      const n = r.stageCounts;
      ctx.stdout.write(
        `${r.id}  ${r.pipeline.padEnd(20)}  ${runStatusName(r.status).padEnd(9)}  ${n === undefined ? "" : `${n.done + n.cached}/${n.total} done`}${reproCounts(r)}\n`,
      );
    }
  });
}

export async function logs(run: string, stage: string, opts: LogsFlags, ctx: CliContext): Promise<void> {
  await withClient(opts, async (client) => {
    const dec = new TextDecoder();
    const stamper =
      opts.timestamps === true && opts.json !== true
        ? new RemoteLineTimes(client, { runId: run, stage, attempt: Number(opts.attempt ?? 0) })
        : undefined;
    for await (const res of client.tailLogs({
      runId: run,
      stage,
      follow: opts.follow === true,
      attempt: Number(opts.attempt ?? 0),
      fromOffset: opts.bytes === undefined ? 0n : -BigInt(opts.bytes),
      tailLines: opts.tail ?? 0,
    })) {
      const chunk = res.chunk;
      if (chunk === undefined) continue;
      if (opts.json === true)
        ctx.stdout.write(
          `${JSON.stringify({ stage: chunk.stage, attempt: chunk.attempt, offset: Number(chunk.offset), text: dec.decode(chunk.data) })}\n`,
        );
      else
        ctx.stdout.write(
          stamper === undefined ? chunk.data : await stamper.push(chunk.data, Number(chunk.offset)),
        );
    }
  });
}

export async function cancel(
  id: string,
  opts: { json?: boolean } & ClientFlags,
  ctx: CliContext,
): Promise<void> {
  await withClient(opts, async (client) => {
    const { run } = await client.cancelRun({ runId: id });
    if (run === undefined) throw new StagefarmError("internal", "no run returned");
    if (opts.json === true) ctx.stdout.write(`${JSON.stringify(remoteSummary(run))}\n`);
    else ctx.stdout.write(`run ${id}: ${runStatusName(run.status)}\n`);
  });
}

export async function retry(
  id: string,
  stage: string,
  opts: { json?: boolean } & ClientFlags,
  ctx: CliContext,
): Promise<void> {
  await withClient(opts, async (client) => {
    const { run } = await client.retryStage({ runId: id, stage });
    if (run === undefined) throw new StagefarmError("internal", "no run returned");
    if (opts.json === true) ctx.stdout.write(`${JSON.stringify(remoteSummary(run))}\n`);
    else ctx.stdout.write(`run ${id}: retrying ${stage}\n`);
  });
}

export async function agents(opts: { json?: boolean } & ClientFlags, ctx: CliContext): Promise<void> {
  await withClient(opts, async (client) => {
    const { agents: list } = await client.listAgents({});
    const { AgentState } = await import("../../proto/gen/stagefarm/v1/service_pb.js");
    const rows = list.map((a) => ({
      id: a.id,
      hostname: a.hostname,
      state: (AgentState[a.state] ?? "UNSPECIFIED").toLowerCase(),
      labels: a.labels,
      slots: a.slots,
      busy: a.busySlots,
      stages: a.currentStages,
      diskFreeBytes: Number(a.diskFreeBytes),
    }));
    if (opts.json === true) {
      ctx.stdout.write(`${JSON.stringify(rows)}\n`);
      return;
    }
    for (const r of rows)
      ctx.stdout.write(
        `${r.id.padEnd(20)} ${r.state.padEnd(9)} ${r.busy}/${r.slots} slots  [${r.labels.join(",")}]  ${r.stages.join(" ")}\n`,
      );
    if (rows.length === 0) ctx.stdout.write("no agents connected\n");
  });
}

export async function drain(
  id: string,
  opts: { json?: boolean } & ClientFlags,
  ctx: CliContext,
): Promise<void> {
  await withClient(opts, async (client) => {
    const { agent } = await client.drainAgent({ agentId: id });
    if (opts.json === true)
      ctx.stdout.write(
        `${JSON.stringify({ id, draining: true, busy: agent?.busySlots ?? 0, stages: agent?.currentStages ?? [] })}\n`,
      );
    else ctx.stdout.write(`agent ${id}: draining\n`);
  });
}

export async function undrain(
  id: string,
  opts: { json?: boolean } & ClientFlags,
  ctx: CliContext,
): Promise<void> {
  await withClient(opts, async (client) => {
    const { agent } = await client.undrainAgent({ agentId: id });
    if (opts.json === true)
      ctx.stdout.write(
        `${JSON.stringify({ id, draining: false, busy: agent?.busySlots ?? 0, stages: agent?.currentStages ?? [] })}\n`,
      );
    else ctx.stdout.write(`agent ${id}: taking stages again\n`);
  });
}

/** `stagefarm run show ID`: one run from the coordinator. */
export async function showRun(
  id: string,
  opts: { json?: boolean } & ClientFlags,
  ctx: CliContext,
): Promise<void> {
  await withClient(opts, async (client) => {
    const { run } = await client.getRun({ runId: id });
    if (run === undefined) throw new StagefarmError("not_found", `no run ${id}`);
    if (opts.json === true) ctx.stdout.write(`${JSON.stringify(remoteSummary(run))}\n`);
    else printRun(run, ctx, makeStyle(ctx.color(ctx.stdout)));
  });
}

/** The last line of a watch, for people: the outcome, the time and what each stage came to. */
function finalLine(run: Run, ms: number, c: Style): string {
  const { status, stages: n } = remoteSummary(run);
  const word =
    status === "succeeded" ? c.green(status) : status === "failed" ? c.red(status) : c.yellow(status);
  return (
    c.bold(`>>> ${run.pipeline}: ${word} in ${formatDuration(ms)}`) +
    ` — ${n.executed} executed, ${n.cached} cached, ${n.failed} failed, ${n.skipped} skipped` +
    (n.cancelled > 0 ? `, ${n.cancelled} cancelled` : "")
  );
}

/** How long `--watch` keeps re-opening a watch that an outage cut. */
const WATCH_OUTAGE_BUDGET_MS = 5 * 60_000;

/**
 * The status area of a watch on a terminal. Expected durations: the farm's recorded p50s, else
 * the pipeline's `estimate:`s; without the history (an older coordinator, no viewer right) the
 * estimates alone.
 */
async function watchStatus(
  client: Client,
  pipeline: string,
  yaml: string,
  out: NodeJS.WriteStream,
  c: Style,
): Promise<WatchStatus> {
  const [{ expectedDuration }, { parsePipeline }, { statsOf }, { StatusArea }, { WatchStatus }] =
    await Promise.all([
      import("../../coordinator/index.js"),
      import("../../shared/pipeline/index.js"),
      import("../cache/farm-source.js"),
      import("../status-area.js"),
      import("../watch-status.js"),
    ]);
  const report = await client.getStats({ pipeline }).then(
    (r) => r.pipelines.map(statsOf).find((p) => p.pipeline === pipeline),
    () => undefined,
  );
  let estimates = new Map<string, number | undefined>();
  try {
    estimates = new Map(parsePipeline(yaml, "pipeline").stages.map((s) => [s.name, s.estimateMs]));
  } catch {
    // The coordinator accepted it; a parse here only adds estimates.
  }
  return new WatchStatus(
    new StatusArea({ out, columns: () => (out.columns > 0 ? out.columns : 80) }),
    (stage) => expectedDuration(report, stage, estimates.get(stage)).ms,
    c,
  );
}

async function watch(
  client: Client,
  id: string,
  out: NodeJS.WritableStream,
  c: Style,
  live?: WatchStatus,
): Promise<Run> {
  const write = (text: string) => (live === undefined ? out.write(text) : live.print(text));
  let last: Run | undefined;
  const seen = new Map<string, string>();
  const started = Date.now();
  // A watch cut by an outage (the coordinator's NATS electing a leader, a restart) is opened
  // again: it starts with the run's state, so nothing is missed but log lines. Past the outage
  // budget, or on any other error, the error stands.
  let outageSince: number | undefined;
  let backoffMs = 250;
  for (;;) {
    try {
      for await (const res of client.watchRun({ runId: id, includeLogs: true })) {
        outageSince = undefined;
        backoffMs = 250;
        const ev = res.event?.event;
        if (ev === undefined) continue;
        if (ev.case === "run") {
          last = ev.value;
          for (const s of ev.value.stages) report(s);
        } else if (ev.case === "stage") report(ev.value);
        else if (ev.case === "log") {
          const text = new TextDecoder().decode(ev.value.data);
          const lines = text.split("\n").filter((l) => l.length > 0);
          if (lines.length > 0) write(lines.map((l) => `${c.dim(`[${ev.value.stage}]`)} ${l}\n`).join(""));
        }
      }
      break;
    } catch (err: unknown) {
      const e = StagefarmError.from(err);
      outageSince ??= Date.now();
      if (!e.retryable || Date.now() - outageSince > WATCH_OUTAGE_BUDGET_MS) throw e;
      write(c.dim(`>>> watch interrupted (${e.message}); watching again\n`));
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, 5_000);
    }
  }
  live?.[Symbol.dispose]();
  if (last === undefined) throw new StagefarmError("unavailable", "the watch ended before the run was known");
  out.write(`${finalLine(last, Date.now() - started, c)}\n`);
  return last;

  function report(s: StageRun): void {
    const line = stageLine(s, c);
    const repro = s.repro === undefined ? [] : reproLines(reproDocOf(s.repro), c, "    ");
    const key = [line, ...repro].join("\n");
    if (seen.get(s.name) === key) return;
    const before = seen.get(s.name)?.split("\n")[0];
    seen.set(s.name, key);
    live?.update(s);
    if (before !== line) write(`>>> ${line}\n`);
    for (const l of repro) write(`${l}\n`);
  }
}
