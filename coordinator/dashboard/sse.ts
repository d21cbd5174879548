/**
 * A server-sent events response. Protocol: `text/event-stream`, a `retry:` hint first (the
 * browser's EventSource reconnects after that many milliseconds and sends the last `id:` it saw
 * as `Last-Event-ID`), then `event:`/`id:`/`data:` records; a comment every 15 s keeps proxies
 * from closing an idle stream. The data of an event is one line of JSON.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

const PING_MS = 15_000;
const RETRY_MS = 2_000;

export class SseStream {
  readonly signal: AbortSignal;
  private readonly abort = new AbortController();
  private readonly ping: NodeJS.Timeout;

  constructor(
    req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.signal = this.abort.signal;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      // Tells nginx-like proxies not to buffer the stream.
      "x-accel-buffering": "no",
    });
    res.write(`retry: ${RETRY_MS}\n\n`);
    this.ping = setInterval(() => this.comment("ping"), PING_MS);
    const end = (): void => this.close();
    req.once("close", end);
    res.once("close", end);
    res.once("error", end);
  }

  /** The client's resume point: the `Last-Event-ID` header, or `?lastEventId=` (a new EventSource). */
  static lastEventId(req: IncomingMessage, url: URL): string | undefined {
    const h = req.headers["last-event-id"];
    const v = (Array.isArray(h) ? h[0] : h) ?? url.searchParams.get("lastEventId") ?? undefined;
    return v === undefined || v === "" ? undefined : v;
  }

  get closed(): boolean {
    return this.signal.aborted;
  }

  /** Bytes written but not yet sent: a slow reader makes it grow. */
  get backlog(): number {
    return this.res.writableLength;
  }

  /** Calls `fn` once the socket has sent its backlog. */
  onDrain(fn: () => void): void {
    this.res.once("drain", fn);
  }

  send(event: string, data: unknown, id?: string): boolean {
    if (this.closed) return false;
    const head = id === undefined ? `event: ${event}\n` : `event: ${event}\nid: ${id}\n`;
    // JSON.stringify never emits a raw newline, so one data line holds the whole event.
    return this.res.write(`${head}data: ${JSON.stringify(data)}\n\n`);
  }

  comment(text: string): void {
    if (!this.closed) this.res.write(`: ${text}\n\n`);
  }

  close(): void {
    if (this.abort.signal.aborted) return;
    clearInterval(this.ping);
    this.abort.abort();
    if (!this.res.writableEnded) this.res.end();
  }
}
