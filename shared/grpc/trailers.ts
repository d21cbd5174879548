/**
 * What an error carries to the client besides its gRPC status: the exact stagefarm error code,
 * a pipeline's issues (so the CLI prints `file:line:col: error: …` lines) and the error's
 * structured details, each in a trailer. Binary (`-bin`) trailers hold UTF-8 JSON, so paths and
 * messages need not be ASCII. Sizes are capped: HTTP/2 peers refuse huge header blocks.
 */
import { Metadata } from "@grpc/grpc-js";
import type { ErrorCode } from "../errors.js";
import { PipelineError, type PipelineIssue } from "../pipeline/index.js";

/** The exact `StagefarmError.code`, so the client restores it (several codes share a status). */
export const ERROR_CODE_TRAILER = "stagefarm-error-code";
/** `PipelineError.issues` as JSON `[{ file, line, col, message }]`. */
export const PIPELINE_ISSUES_TRAILER = "stagefarm-pipeline-issues-bin";
/** `StagefarmError.details` as a JSON object (keys that do not fit or serialise are left out). */
export const ERROR_DETAILS_TRAILER = "stagefarm-error-details-bin";

export const MAX_MESSAGE_CHARS = 4096;
const MAX_ISSUES_BYTES = 16_384;
const MAX_DETAILS_BYTES = 4096;

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A message as a status can carry it: cut to a size (saying how much was left out) and with lone
 * surrogates replaced, because grpc-js percent-encodes it and a lone surrogate cannot be encoded.
 */
export function truncateMessage(message: string): string {
  const text = message.replace(loneSurrogate, "\uFFFD");
  if (text.length <= MAX_MESSAGE_CHARS) return text;
  const last = text.charCodeAt(MAX_MESSAGE_CHARS - 1);
  const cut = last >= 0xd800 && last <= 0xdbff ? MAX_MESSAGE_CHARS - 1 : MAX_MESSAGE_CHARS;
  return `${text.slice(0, cut)}… (${text.length - cut} more characters not sent)`;
}

export function writeErrorCode(md: Metadata, code: ErrorCode): void {
  md.set(ERROR_CODE_TRAILER, code);
}

/** The code the server sent, unchecked (status.ts checks it is a known one). */
export function readErrorCode(md: Metadata | undefined): string | undefined {
  const v = md?.get(ERROR_CODE_TRAILER)[0];
  return typeof v === "string" ? v : undefined;
}

/** Issues as sent: as many as fit, then one line saying how many more there were. */
export function writePipelineIssues(md: Metadata, err: PipelineError): void {
  const sent: Array<{ file: string; line: number; col: number; message: string }> = [];
  let bytes = 2;
  for (const issue of err.issues) {
    const item = { ...issue.pos, message: issue.message };
    bytes += Buffer.byteLength(JSON.stringify(item)) + 1;
    if (bytes > MAX_ISSUES_BYTES) {
      const last = sent.at(-1) ?? item;
      const more = err.issues.length - sent.length;
      sent.push({ ...last, message: `and ${more} more issues not sent` });
      break;
    }
    sent.push(item);
  }
  md.set(PIPELINE_ISSUES_TRAILER, Buffer.from(JSON.stringify(sent)));
}

function isIssueJson(v: unknown): v is { file: string; line: number; col: number; message: string } {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o.file === "string" &&
    typeof o.line === "number" &&
    typeof o.col === "number" &&
    typeof o.message === "string"
  );
}

function readJson(md: Metadata | undefined, key: string): unknown {
  const v = md?.get(key)[0];
  if (!Buffer.isBuffer(v)) return undefined;
  try {
    return JSON.parse(v.toString("utf8")) as unknown;
  } catch {
    // A malformed trailer is ignored: the status code and message still reach the user.
    return undefined;
  }
}

export function readPipelineIssues(md: Metadata | undefined): PipelineIssue[] | undefined {
  const v = readJson(md, PIPELINE_ISSUES_TRAILER);
  if (!Array.isArray(v) || !v.every(isIssueJson)) return undefined;
  return v.map((i) => ({ pos: { file: i.file, line: i.line, col: i.col }, message: i.message }));
}

/** Details that serialise to JSON, key by key, while they fit. */
export function writeErrorDetails(md: Metadata, details: Readonly<Record<string, unknown>>): void {
  const kept: Record<string, unknown> = {};
  let bytes = 2;
  for (const [key, value] of Object.entries(details)) {
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch {
      // Not serialisable (a bigint, a cycle): this key stays on the server.
      continue;
    }
    if (json === undefined) continue;
    const size = Buffer.byteLength(json) + Buffer.byteLength(key) + 4;
    if (bytes + size > MAX_DETAILS_BYTES) continue;
    bytes += size;
    kept[key] = JSON.parse(json) as unknown;
  }
  if (Object.keys(kept).length > 0) md.set(ERROR_DETAILS_TRAILER, Buffer.from(JSON.stringify(kept)));
}

export function readErrorDetails(md: Metadata | undefined): Record<string, unknown> | undefined {
  const v = readJson(md, ERROR_DETAILS_TRAILER);
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  return v as Record<string, unknown>;
}
