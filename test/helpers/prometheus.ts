/**
 * A real Prometheus for tests (the Debian package's `prometheus` and `promtool`): started on a
 * random loopback port with a temp directory holding its config and TSDB, `AsyncDisposable`
 * (stopped and removed even when the test failed). PromQL goes through its HTTP API; results
 * are polled, never waited for with fixed sleeps (the first sample of a target takes a scrape
 * interval or two).
 *
 *   await using prom = await startPrometheus({ config: yamlText });
 *   const v = await prom.waitFor("sum(up)", (r) => r.length === 1 ? r : undefined, 20_000);
 *
 * {@link promtool} runs `promtool` with optional stdin (e.g. `check metrics` on an exposition).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StagefarmError } from "../../shared/errors.js";
import { freePort } from "./free-port.js";
import { poll } from "./poll.js";

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface PromQueryResult {
  status: "success" | "error";
  errorType?: string;
  error?: string;
  samples: PromSample[];
}

export interface PrometheusHandle extends AsyncDisposable {
  readonly url: string;
  /** The temp directory: `prometheus.yml`, extra files, `data/`. */
  readonly dir: string;
  /** An instant query; the raw status (a bad expression is `error`, not a throw). */
  query(expr: string): Promise<PromQueryResult>;
  /** Polls `expr` until `pick` returns something other than undefined; fails after `timeoutMs`. */
  waitFor<T>(expr: string, pick: (s: PromSample[]) => T | undefined, timeoutMs: number): Promise<T>;
  /** Writes a file into the temp directory (e.g. a file_sd target list); returns its path. */
  writeFile(name: string, text: string): Promise<string>;
  output(): string;
  close(): Promise<void>;
}

const OUTPUT_LIMIT = 64 * 1024;

function missing(binary: string): StagefarmError {
  return new StagefarmError(
    "not_found",
    `${binary} not found on PATH: install it with \`apt-get install prometheus\` (.ci/run does)`,
  );
}

/** Runs promtool; resolves with its exit code and output (never throws for a non-zero exit). */
export function promtool(
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("promtool", args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "ENOENT" ? missing("promtool") : StagefarmError.from(err)),
    );
    child.once("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on("error", () => undefined); // promtool may exit before reading everything
    child.stdin.end(stdin ?? "");
  });
}

class Prometheus implements PrometheusHandle {
  readonly url: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = "";
  #closed: Promise<void> | undefined;
  readonly #onProcessExit = (): void => {
    this.#child?.kill("SIGKILL");
  };

  constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  output(): string {
    return this.#output;
  }

  async start(timeoutMs: number): Promise<void> {
    const child = spawn(
      "prometheus",
      [
        `--config.file=${join(this.dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(this.dir, "data")}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"], cwd: this.dir },
    );
    this.#child = child;
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString("utf8")).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    let spawnError: NodeJS.ErrnoException | undefined;
    let exited = false;
    this.#exited = new Promise<void>((resolve) => {
      child.once("error", (err) => {
        spawnError = err;
        exited = true;
        resolve();
      });
      child.once("exit", () => {
        exited = true;
        process.removeListener("exit", this.#onProcessExit);
        resolve();
      });
    });
    process.once("exit", this.#onProcessExit);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (spawnError !== undefined) {
        process.removeListener("exit", this.#onProcessExit);
        throw spawnError.code === "ENOENT" ? missing("prometheus") : StagefarmError.from(spawnError);
      }
      if (exited)
        throw new StagefarmError("unavailable", `prometheus exited during start-up:\n${this.#output}`);
      try {
        const res = await fetch(`${this.url}/-/ready`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.close();
        throw new StagefarmError("timeout", `prometheus did not become ready in time:\n${this.#output}`);
      }
      await sleep(50);
    }
  }

  async query(expr: string): Promise<PromQueryResult> {
    const res = await fetch(`${this.url}/api/v1/query`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ query: expr }).toString(),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as {
      status: "success" | "error";
      errorType?: string;
      error?: string;
      data?: { resultType: string; result: unknown };
    };
    const samples: PromSample[] = [];
    const data = body.data;
    if (data?.resultType === "vector")
      for (const r of data.result as Array<{ metric: Record<string, string>; value: [number, string] }>)
        samples.push({ metric: r.metric, value: Number(r.value[1]) });
    else if (data?.resultType === "scalar") {
      const [, v] = data.result as [number, string];
      samples.push({ metric: {}, value: Number(v) });
    }
    return {
      status: body.status,
      ...(body.errorType === undefined ? {} : { errorType: body.errorType }),
      ...(body.error === undefined ? {} : { error: body.error }),
      samples,
    };
  }

  async waitFor<T>(expr: string, pick: (s: PromSample[]) => T | undefined, timeoutMs: number): Promise<T> {
    let last: PromQueryResult | undefined;
    return poll(
      async () => {
        last = await this.query(expr);
        if (last.status === "error")
          throw new StagefarmError("invalid_argument", `PromQL ${expr}: ${last.errorType}: ${last.error}`);
        return pick(last.samples);
      },
      { timeoutMs, what: expr, intervalMs: 200 },
    ).catch((err: unknown) => {
      if (!(err instanceof StagefarmError) || err.code !== "timeout") throw err;
      throw new StagefarmError("timeout", `${err.message}; last result ${JSON.stringify(last?.samples)}`);
    });
  }

  async writeFile(name: string, text: string): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, text);
    return path;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      const child = this.#child;
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await this.#exited;
        clearTimeout(timer);
      }
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Starts Prometheus with `config` (prometheus.yml text; relative paths in it resolve against the
 * temp directory, where `files` are written first). Resolves once `/-/ready` answers.
 */
export async function startPrometheus(opts: {
  config: string;
  files?: Record<string, string>;
  startTimeoutMs?: number;
}): Promise<PrometheusHandle> {
  const dir = await mkdtemp(join(tmpdir(), "sf-prom-"));
  try {
    await mkdir(join(dir, "data"));
    for (const [name, text] of Object.entries(opts.files ?? {})) {
      await mkdir(join(dir, name, ".."), { recursive: true });
      await writeFile(join(dir, name), text);
    }
    await writeFile(join(dir, "prometheus.yml"), opts.config);
    const prom = new Prometheus(dir, await freePort());
    await prom.start(opts.startTimeoutMs ?? 20_000);
    return prom;
  } catch (err: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** One sample line of a text exposition, label values unescaped. */
export interface ExpositionSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the Prometheus text format strictly enough for tests: every line is a `# HELP`/`# TYPE`
 * comment or `name{label="value",…} number`; anything else throws, naming the line.
 */
export function parseExposition(text: string): ExpositionSample[] {
  const out: ExpositionSample[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (m === null) throw new StagefarmError("invalid_argument", `line ${i + 1}: no metric name: ${line}`);
    const name = m[1] ?? "";
    let pos = name.length;
    const labels: Record<string, string> = {};
    if (line[pos] === "{") {
      pos++;
      while (line[pos] !== "}") {
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(pos));
        if (lm === null)
          throw new StagefarmError("invalid_argument", `line ${i + 1}: bad label at ${pos}: ${line}`);
        pos += lm[0].length;
        let value = "";
        for (;;) {
          const c = line[pos];
          if (c === undefined)
            throw new StagefarmError("invalid_argument", `line ${i + 1}: unterminated value`);
          pos++;
          if (c === '"') break;
          if (c !== "\\") {
            value += c;
            continue;
          }
          const e = line[pos++];
          if (e === "n") value += "\n";
          else if (e === "\\" || e === '"') value += e;
          else throw new StagefarmError("invalid_argument", `line ${i + 1}: bad escape \\${e ?? ""}`);
        }
        labels[lm[1] ?? ""] = value;
        if (line[pos] === ",") pos++;
        else if (line[pos] !== "}")
          throw new StagefarmError("invalid_argument", `line ${i + 1}: expected , or } at ${pos}: ${line}`);
      }
      pos++;
    }
    const rest = line.slice(pos);
    if (!/^ [-+]?(?:[0-9.eE+-]+|NaN|Inf)$/.test(rest))
      throw new StagefarmError("invalid_argument", `line ${i + 1}: bad value: ${line}`);
    out.push({ name, labels, value: Number(rest.trim().replace("Inf", "Infinity")) });
  }
  return out;
}
