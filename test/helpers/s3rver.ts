/**
 * A real S3-protocol server for tests: s3rver in a child process (./s3rver-main.ts) on
 * 127.0.0.1, a random free port and a temp dir, so a test can kill it (an outage) and start it
 * again on the same port and data (`restart()`). Disposing stops it and removes the temp dir.
 *
 *   await using s3 = await startS3rver();
 *   const store = await S3ArtifactStore.open(s3.config);
 *
 * Each handle gets a fresh bucket name (`stagefarm-test-<random>`), not created here. s3rver only
 * knows the access key `S3RVER` and does not check signatures, so any secret works; the handle's
 * secret is random so that tests can check it never leaks into messages.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { access, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { S3Config } from "../../shared/config/s3-url.js";

export interface S3rverHandle extends AsyncDisposable {
  /** `http://S3RVER:SECRET@127.0.0.1:PORT/BUCKET` */
  url: string;
  config: S3Config;
  port: number;
  /** s3rver's data directory. */
  dir: string;
  /** Kills the server (SIGKILL, like a crash); a no-op when it is not running. */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory. */
  restart(): Promise<void>;
}

const MAIN = fileURLToPath(new URL("./s3rver-main.js", import.meta.url));
const START_TIMEOUT_MS = 15_000;

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
}

/** Spawns s3rver-main and waits for its READY line; fails naming the cause (with its stderr). */
async function spawnServer(port: number, dir: string): Promise<Running & { port: number }> {
  try {
    await access(MAIN);
  } catch {
    throw new Error(`the s3rver harness script ${MAIN} is missing: compile the tests first (npx tsc -p .)`);
  }
  const child = spawn(process.execPath, [MAIN, "--port", String(port), "--dir", dir], {
    stdio: ["pipe", "pipe", "pipe"], // stdin stays open: its end tells the server we are gone
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stdout = "";
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  try {
    const actual = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      child.stdout?.on("data", (d: Buffer) => {
        stdout += d.toString();
        const m = /READY (\d+)\n/.exec(stdout);
        if (m !== null) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited during start-up (${signal ?? `status ${code}`})`));
      });
    });
    return { child, exited, port: actual };
  } catch (err: unknown) {
    child.kill("SIGKILL");
    await exited;
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot start s3rver on 127.0.0.1:${port} (data in ${dir}): ${why}\n${stderr.trim()}`, {
      cause: err,
    });
  }
}

async function kill(r: Running | undefined): Promise<void> {
  if (r === undefined || r.child.exitCode !== null || r.child.signalCode !== null) return;
  r.child.kill("SIGKILL");
  await r.exited;
}

export async function startS3rver(): Promise<S3rverHandle> {
  const dir = await mkdtemp(join(tmpdir(), "sf-s3rver-"));
  let running: (Running & { port: number }) | undefined;
  try {
    running = await spawnServer(0, dir);
  } catch (err: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const port = running.port;
  const secret = `sf-secret-${randomBytes(12).toString("hex")}`;
  const bucket = `stagefarm-test-${randomBytes(6).toString("hex")}`;
  const config: S3Config = {
    endPoint: "127.0.0.1",
    port,
    useSSL: false,
    accessKey: "S3RVER",
    secretKey: secret,
    bucket,
    prefix: "",
    region: "us-east-1",
  };
  return {
    url: `http://S3RVER:${secret}@127.0.0.1:${port}/${bucket}`,
    config,
    port,
    dir,
    async stop() {
      await kill(running);
      running = undefined;
    },
    async restart() {
      await kill(running);
      running = await spawnServer(port, dir);
    },
    async [Symbol.asyncDispose]() {
      try {
        await kill(running);
        running = undefined;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
