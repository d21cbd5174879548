/**
 * The one conversion of a failed HTTP API request into its answer: the error's code picks the
 * status (../dashboard/http-util.ts's table, as shared/grpc/status.ts's picks the gRPC status),
 * an AuthError's failure picks 401 or 403 as on gRPC. The body is `{error, code}`.
 */
import type { ServerResponse } from "node:http";
import { AuthError } from "../../shared/grpc/auth.js";
import { StagefarmError } from "../../shared/errors.js";
import { httpStatusFor, sendJson } from "../dashboard/http-util.js";

export interface HttpFailure {
  status: number;
  code: string;
  message: string;
}

export function httpFailureOf(err: unknown): HttpFailure {
  if (err instanceof AuthError)
    return { status: err.failure === "unauthenticated" ? 401 : 403, code: err.failure, message: err.message };
  const e = StagefarmError.from(err);
  return { status: httpStatusFor(e.code), code: e.code, message: e.message };
}

/** Answers `f` unless the answer has begun (then it is ended: the client sees it cut short). */
export function sendFailure(res: ServerResponse, f: HttpFailure): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  if (f.status === 401) res.setHeader("www-authenticate", 'Bearer realm="stagefarm"');
  sendJson(res, f.status, { error: f.message, code: f.code });
}
