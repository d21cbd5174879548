/**
 * Where `stagefarm get` reads a download from: a farm's HTTP server (`stagefarm up`, or the
 * coordinator's `--http`; the download routes of coordinator/downloads/) or the local store
 * (blobs by digest: the embedded farm keeps no run documents on disk).
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import type { DownloadTarget, ResolvedDownload } from "../../coordinator/downloads/index.js";
import { isDigest } from "../../shared/digest.js";
import { StagefarmError, isErrorCode, type ErrorCode } from "../../shared/errors.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { excerpt } from "../../shared/util/excerpt.js";

/** The code of an error answer without a stagefarm body (a proxy's, an old server's). */
const CODE_OF_STATUS: Readonly<Record<number, ErrorCode>> = {
  401: "unauthenticated",
  403: "permission_denied",
  404: "not_found",
};

export interface OpenedDownload {
  info: ResolvedDownload;
  body: Readable;
}

export interface DownloadSource {
  open(target: DownloadTarget, signal: AbortSignal): Promise<OpenedDownload>;
}

export function targetPath(t: DownloadTarget): string {
  return t.t === "digest"
    ? `/api/v1/artifacts/${t.digest}`
    : `/api/v1/runs/${encodeURIComponent(t.run)}/stages/${encodeURIComponent(t.stage)}/outputs/${encodeURIComponent(t.output)}`;
}

function localName(t: DownloadTarget, kind: string): string {
  return t.t === "digest" ? t.digest : `${t.stage}-${t.output}${kind === "tree" ? ".tar.zst" : ""}`;
}

async function errorOf(res: IncomingMessage, what: string): Promise<StagefarmError> {
  let text = "";
  for await (const chunk of res as AsyncIterable<Buffer>) {
    text += chunk.toString("utf8");
    if (text.length > 8192) break;
  }
  res.destroy();
  let body: { error?: unknown; code?: unknown } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // not JSON: the status says it
  }
  const code = typeof body.code === "string" && isErrorCode(body.code) ? body.code : undefined;
  const status = res.statusCode ?? 0;
  const message = typeof body.error === "string" ? body.error : `HTTP ${status}`;
  return new StagefarmError(code ?? CODE_OF_STATUS[status] ?? "unavailable", `${what}: ${excerpt(message)}`, {
    details: { status },
  });
}

export interface HttpSourceOptions {
  /** The server's base URL, `http(s)://HOST:PORT`. */
  url: string;
  token?: string | undefined;
  /** PEM of the CA that signed an HTTPS server's certificate. */
  ca?: Buffer | undefined;
}

/** Downloads from a farm's HTTP server. */
export function httpSource(o: HttpSourceOptions): DownloadSource {
  const base = new URL(o.url);
  if (base.protocol !== "http:" && base.protocol !== "https:")
    throw new StagefarmError("invalid_argument", `--url must be http(s)://HOST:PORT, got ${excerpt(o.url)}`);
  return {
    async open(target, signal) {
      const url = new URL(targetPath(target), base);
      const get = url.protocol === "https:" ? httpsRequest : httpRequest;
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = get(url, {
          signal,
          headers: o.token === undefined ? {} : { authorization: `Bearer ${o.token}` },
          ...(o.ca === undefined ? {} : { ca: o.ca }),
        });
        req.once("response", resolve);
        req.once("error", (err) => reject(StagefarmError.from(err, "unavailable")));
        req.end();
      });
      if (res.statusCode !== 200) throw await errorOf(res, `GET ${url.pathname}`);
      const digest = String(res.headers["x-stagefarm-sha256"] ?? "");
      const size = Number(res.headers["content-length"]);
      const kind = String(res.headers["x-stagefarm-kind"] ?? "");
      if (!isDigest(digest) || !Number.isSafeInteger(size) || !["tree", "file", "blob"].includes(kind)) {
        res.destroy();
        throw new StagefarmError("unavailable", `${url.host} did not answer as a stagefarm download`);
      }
      const k = kind as ResolvedDownload["kind"];
      return { info: { digest, size, kind: k, filename: localName(target, k) }, body: res };
    },
  };
}

/** Downloads blobs by digest from a local store. */
export function storeSource(store: ArtifactStore): DownloadSource {
  return {
    async open(target, signal) {
      if (target.t !== "digest")
        throw new StagefarmError(
          "invalid_argument",
          "the local store keeps no runs: get RUN STAGE OUTPUT from a farm (--coordinator, or --url of `stagefarm up`), or get DIGEST",
        );
      const info = await store.statBlob(target.digest);
      if (info === undefined)
        throw new StagefarmError("not_found", `no artifact ${target.digest} in ${store.describe}`);
      const body = await store.getBlob(target.digest, signal);
      return {
        info: { digest: target.digest, size: info.size, kind: "blob", filename: target.digest },
        body,
      };
    },
  };
}

/** The part of the gRPC client `get` uses (GetArtifact, a server stream). */
export interface ArtifactClient {
  getArtifact(
    req: { runId: string; stage: string; output: string; digest: string; offset: bigint },
    opts: { signal: AbortSignal },
  ): AsyncIterable<{
    part:
      | { case: "info"; value: { digest: string; size: bigint; kind: string } }
      | { case: "data"; value: Uint8Array }
      | { case: undefined; value?: undefined };
  }>;
}

/** Downloads through a coordinator's gRPC API (GetArtifact). */
export function grpcSource(client: ArtifactClient): DownloadSource {
  return {
    async open(target, signal) {
      const req =
        target.t === "digest"
          ? { runId: "", stage: "", output: "", digest: target.digest, offset: 0n }
          : { runId: target.run, stage: target.stage, output: target.output, digest: "", offset: 0n };
      const it = client.getArtifact(req, { signal })[Symbol.asyncIterator]();
      const first = await it.next();
      const part = first.done === true ? undefined : first.value.part;
      if (part?.case !== "info" || !["tree", "file", "blob"].includes(part.value.kind)) {
        await it.return?.();
        throw new StagefarmError(
          "unavailable",
          "the coordinator did not answer GetArtifact with the blob's info",
        );
      }
      const kind = part.value.kind as ResolvedDownload["kind"];
      async function* data(): AsyncGenerator<Buffer> {
        try {
          for (let r = await it.next(); r.done !== true; r = await it.next())
            if (r.value.part.case === "data") yield Buffer.from(r.value.part.value);
        } finally {
          await it.return?.();
        }
      }
      return {
        info: {
          digest: part.value.digest,
          size: Number(part.value.size),
          kind,
          filename: localName(target, kind),
        },
        body: Readable.from(data(), { objectMode: false }),
      };
    },
  };
}
