/**
 * HTTP helpers of the dashboard's API: protobuf messages sent as JSON (`toJson`, the proto3
 * JSON mapping: lowerCamelCase fields, enum names, RFC 3339 timestamps, 64-bit integers as
 * strings, default values left out) and JSON bodies read with a size limit. Every
 * state-changing request has passed ../request-guard.ts (same-origin JSON) before it gets here.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { StagefarmError } from "../../shared/errors.js";

const MAX_BODY = 4 << 20;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.end(`${JSON.stringify(body)}\n`);
}

/** Sends a protobuf message as its proto3 JSON. */
export function sendMessage<D extends DescMessage>(
  res: ServerResponse,
  status: number,
  schema: D,
  msg: MessageShape<D>,
): void {
  sendJson(res, status, toJson(schema, msg));
}

/** A JSON request body of at most `maxBytes` (default 4 MiB); an empty body is `{}`. */
export async function readJsonBody(req: IncomingMessage, maxBytes = MAX_BODY): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes)
      throw new StagefarmError("invalid_argument", `request body larger than ${maxBytes >> 20} MiB`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err: unknown) {
    throw new StagefarmError("invalid_argument", "request body is not valid JSON", { cause: err });
  }
}

/** A decoded path segment; a segment that does not decode is a bad request. */
export function segment(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch (err: unknown) {
    throw new StagefarmError("invalid_argument", `${what} is not valid URL encoding`, { cause: err });
  }
}

/** A non-negative integer query parameter, or `fallback` when absent. */
export function intParam(url: URL, name: string, fallback: number): number {
  const v = url.searchParams.get(name);
  if (v === null || v === "") return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new StagefarmError("invalid_argument", `query parameter ${name} must be a non-negative integer`);
  return n;
}
