/**
 * A real `nats-server` for tests: JetStream on, loopback, random client and monitoring ports,
 * a temporary store directory. The handle is `AsyncDisposable` (stops the server and removes
 * the directory even when the test failed) and can stop, kill and restart the server on the
 * same ports and store, so JetStream data survives a restart.
 *
 *   await using nats = await startNatsServer();
 *   const nc = await connect({ servers: nats.url });
 *
 * With `config` the server reads that configuration file (accounts, users, permissions, TLS,
 * JetStream with its store directory; ./nats-auth.ts renders the shipped deploy/nats/ one); the
 * listen address and ports still come from the harness (command-line flags override the file).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StagefarmError } from "../../shared/errors.js";

export interface NatsServerOptions {
  /** The executable (default `nats-server` from PATH). */
  binary?: string;
  /** Require these credentials from clients (they appear in `url`). */
  user?: string;
  pass?: string;
  /** How long to wait for the server to become healthy (default 10 s). */
  startTimeoutMs?: number;
  /**
   * A configuration file (`-c`) enabling JetStream in `storeDir` (which stays the caller's);
   * the harness's address and ports override the file's.
   */
  config?: { file: string; storeDir: string };
}

export interface NatsServerHandle extends AsyncDisposable {
  /** `nats://[user:pass@]127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly storeDir: string;
  /** Process id of the running server (changes on restart; 0 when stopped). */
  readonly pid: number;
  /** SIGTERM, wait for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** SIGKILL, wait for the exit. */
  kill(): Promise<void>;
  /** Stops the server if running and starts it again with the same ports and store. */
  restart(): Promise<void>;
  /** The server's recent output, for diagnostics. */
  output(): string;
}

const OUTPUT_LIMIT = 64 * 1024;

class NatsServer implements NatsServerHandle {
  /** 0 until the first start reported the port the server bound (restarts reuse it). */
  port = 0;
  monitorPort = 0;
  readonly #auth: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = "";
  readonly #onProcessExit = (): void => {
    this.#child?.kill("SIGKILL");
  };

  constructor(
    readonly storeDir: string,
    readonly opts: NatsServerOptions,
  ) {
    this.#auth =
      opts.user !== undefined
        ? `${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.pass ?? "")}@`
        : "";
  }

  get url(): string {
    return `nats://${this.#auth}127.0.0.1:${this.port}`;
  }

  get pid(): number {
    const child = this.#child;
    return child && child.exitCode === null && child.signalCode === null ? (child.pid ?? 0) : 0;
  }

  output(): string {
    return this.#output;
  }

  /**
   * Starts the server. The first start asks for random ports (`-1`: nats-server binds, then logs
   * the port); a restart asks for the same ports again, so that clients reconnect to the same URL.
   */
  async start(): Promise<void> {
    const binary = this.opts.binary ?? "nats-server";
    const fresh = this.port === 0;
    const args = [
      "-a",
      "127.0.0.1",
      "-p",
      fresh ? "-1" : String(this.port),
      "-m",
      fresh ? "-1" : String(this.monitorPort),
      ...(this.opts.config === undefined ? ["-js", "-sd", this.storeDir] : ["-c", this.opts.config.file]),
    ];
    if (this.opts.user !== undefined) args.push("--user", this.opts.user, "--pass", this.opts.pass ?? "");
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString("utf8")).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    let spawnError: Error | undefined;
    this.#exited = new Promise<void>((resolve) => {
      child.once("error", (err) => {
        spawnError = err;
        resolve();
      });
      child.once("exit", () => {
        process.removeListener("exit", this.#onProcessExit);
        resolve();
      });
    });
    process.once("exit", this.#onProcessExit);
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 10_000);
    let exited = false;
    void this.#exited.then(() => (exited = true));
    for (;;) {
      if (spawnError) {
        process.removeListener("exit", this.#onProcessExit);
        const missing = (spawnError as NodeJS.ErrnoException).code === "ENOENT";
        throw new StagefarmError(
          missing ? "not_found" : "unavailable",
          missing
            ? binary === "nats-server"
              ? "nats-server not found on PATH: install it with `apt-get install nats-server`"
              : `nats-server binary "${binary}" not found: install it with \`apt-get install nats-server\``
            : `could not start ${binary}: ${spawnError.message}`,
          { cause: spawnError },
        );
      }
      if (exited)
        throw new StagefarmError(
          "unavailable",
          `nats-server exited during start-up (code ${child.exitCode}):\n${this.#output}`,
        );
      if (fresh) this.#portsFromOutput();
      if (this.port !== 0 && this.monitorPort !== 0 && (await this.#healthy())) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new StagefarmError(
          "timeout",
          `nats-server did not become healthy (monitoring port ${this.monitorPort || "not reported yet"}) in time:\n${this.#output}`,
        );
      }
      await sleep(20);
    }
  }

  /** The ports of a server started on `-1`, from its log lines (once they are both there). */
  #portsFromOutput(): void {
    const client = /Listening for client connections on \S+:(\d+)/.exec(this.#output);
    const monitor = /Starting http monitor on \S+:(\d+)/.exec(this.#output);
    if (client === null || monitor === null) return;
    this.port = Number(client[1]);
    this.monitorPort = Number(monitor[1]);
  }

  async #healthy(): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.monitorPort}/healthz?js-enabled-only=true`, {
        signal: AbortSignal.timeout(1000),
      });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false; // not listening yet
    }
  }

  async #signal(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  stop(): Promise<void> {
    return this.#signal("SIGTERM", 10_000);
  }

  kill(): Promise<void> {
    return this.#signal("SIGKILL", 0);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.stop();
    } finally {
      if (this.opts.config === undefined) await rm(this.storeDir, { recursive: true, force: true });
    }
  }
}

/**
 * Starts `nats-server` with JetStream on random loopback ports (it binds them itself and logs
 * them: no port is picked ahead and raced for) and a fresh store directory.
 */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const storeDir = opts.config?.storeDir ?? (await mkdtemp(join(tmpdir(), "sf-nats-")));
  try {
    const server = new NatsServer(storeDir, opts);
    await server.start();
    return server;
  } catch (err: unknown) {
    if (opts.config === undefined) await rm(storeDir, { recursive: true, force: true });
    throw err;
  }
}
