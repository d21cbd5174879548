/**
 * The log of one stage attempt: everything the runner writes plus the executor's own `>>>`
 * lines, appended to a file in the workspace's private area and passed on live, decoded as
 * UTF-8 (a multi-byte character split across chunks is held back until complete). Beside the
 * bytes it records when each line came (shared/log-times.ts), stored as the log's index.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { errorFields, type Logger } from "../shared/log.js";
import { StagefarmError } from "../shared/errors.js";
import { LogTimesRecorder, type LogTimes } from "../shared/log-times.js";
import type { LogSink } from "./runners/index.js";

/** `sha256 0123456789ab…`: enough of a digest to recognise it in a log. */
export function shortDigest(digest: string): string {
  return `sha256 ${digest.slice(0, 12)}…`;
}

export class StageLog implements LogSink {
  readonly path: string;
  readonly #file: WriteStream;
  readonly #decoder = new TextDecoder("utf-8");
  readonly #onLog: ((chunk: string) => void) | undefined;
  readonly #logger: Logger;
  readonly #times = new LogTimesRecorder();
  #error: StagefarmError | undefined;
  #listenerFailed = false;
  #closed: Promise<void> | undefined;

  private constructor(
    path: string,
    file: WriteStream,
    onLog: ((chunk: string) => void) | undefined,
    logger: Logger,
  ) {
    this.path = path;
    this.#file = file;
    this.#onLog = onLog;
    this.#logger = logger;
    file.on("error", (err: unknown) => {
      this.#error ??= new StagefarmError("unavailable", `cannot write stage log ${path}`, { cause: err });
    });
  }

  /** Opens (creates or truncates) the log file. */
  static async open(
    path: string,
    onLog: ((chunk: string) => void) | undefined,
    logger: Logger,
  ): Promise<StageLog> {
    const file = createWriteStream(path, { flags: "w" });
    await new Promise<void>((resolve, reject) => {
      file.once("open", () => resolve());
      file.once("error", reject);
    }).catch((err: unknown) => {
      throw new StagefarmError("unavailable", `cannot create stage log ${path}`, { cause: err });
    });
    return new StageLog(path, file, onLog, logger);
  }

  /** When each line of the log was written (its index, stored beside it). */
  get times(): LogTimes {
    return this.#times;
  }

  write(chunk: string | Uint8Array): void {
    if (this.#closed) return;
    this.#times.record(typeof chunk === "string" ? Buffer.from(chunk) : chunk, Date.now());
    this.#file.write(chunk);
    const text = typeof chunk === "string" ? chunk : this.#decoder.decode(chunk, { stream: true });
    if (text !== "") this.#emit(text);
  }

  /** Writes one executor line: `>>> text`. */
  line(text: string): void {
    this.write(`>>> ${text}\n`);
  }

  /** Flushes and closes the file; rejects if any write failed. Idempotent. */
  async close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      const rest = this.#decoder.decode();
      if (rest !== "") this.#emit(rest);
      this.#file.end(() => resolve());
    });
    await this.#closed;
    if (this.#error) throw this.#error;
  }

  #emit(text: string): void {
    if (!this.#onLog) return;
    try {
      this.#onLog(text);
    } catch (err: unknown) {
      // A broken live-log consumer must not fail the build; the file keeps the full log.
      if (!this.#listenerFailed)
        this.#logger.warn({ ...errorFields(err), log: this.path }, "live log listener failed");
      this.#listenerFailed = true;
    }
  }
}
