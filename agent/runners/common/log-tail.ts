/**
 * Keeps the last bytes a process wrote, to quote its last lines in an error (the full log
 * is stored separately). Bounded: at most `maxBytes` are held however much is written.
 */
export class LogTail {
  readonly #maxBytes: number;
  #buf: Buffer = Buffer.alloc(0);
  #truncated = false;

  constructor(maxBytes = 16 * 1024) {
    this.#maxBytes = maxBytes;
  }

  push(chunk: string | Uint8Array): void {
    const buf = Buffer.concat([this.#buf, typeof chunk === "string" ? Buffer.from(chunk) : chunk]);
    this.#truncated ||= buf.length > this.#maxBytes;
    this.#buf = buf.length > this.#maxBytes ? buf.subarray(buf.length - this.#maxBytes) : buf;
  }

  /** The last `n` lines (a trailing newline does not count as an empty line), joined with "\n". */
  lines(n = 30): string {
    let text = this.#buf.toString("utf8");
    // After truncation the first line is cut somewhere in the middle: drop it.
    if (this.#truncated) text = text.slice(text.indexOf("\n") + 1);
    return text.replace(/\n$/, "").split("\n").slice(-n).join("\n");
  }
}
