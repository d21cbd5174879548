/**
 * The one conversion of a failed HTTP API request into its answer: the error's code picks the
 * status (shared/errors.ts's table, as shared/grpc/status.ts's picks the gRPC status; an
 * AuthError's code, unauthenticated or permission_denied, gives 401 or 403). The body is
 * `{error, code}`.
 */
import type { ServerResponse } from "node:http";
import { httpStatusFor, StagefarmError } from "../../shared/errors.js";
import { sendJson } from "../dashboard/http-util.js";

export interface HttpFailure {
  status: number;
  code: string;
  message: string;
}

export function httpFailureOf(err: unknown): HttpFailure {
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
