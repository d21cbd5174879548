/**
 * HTTP requests as an attacker's browser or a broken client sends them: any Host header (fetch
 * sets its own), any method and content type, and request targets that are not URLs (written
 * to the socket as they are).
 */
import { request } from "node:http";
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function rawRequest(
  port: number,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: opts.method ?? "GET",
        path: opts.path ?? "/",
        headers: {
          ...(opts.body === undefined ? {} : { "content-length": String(Buffer.byteLength(opts.body)) }),
          ...opts.headers,
        },
        setHost: opts.headers?.["host"] === undefined,
        agent: false,
        timeout: 15_000,
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`no answer to ${opts.method ?? "GET"} ${opts.path ?? "/"}`)),
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Writes `head` (a request line and headers, CRLF-separated) as is; resolves with the status. */
export function rawSocketStatus(port: number, head: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    let text = "";
    sock.setTimeout(15_000, () => sock.destroy(new Error("no answer")));
    sock.on("connect", () => sock.write(head));
    sock.on("data", (c: Buffer) => {
      text += c.toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (m !== null) {
        sock.destroy();
        resolve(Number(m[1]));
      }
    });
    sock.on("error", reject);
    sock.on("close", () => reject(new Error(`connection closed without a status: ${JSON.stringify(text)}`)));
  });
}
