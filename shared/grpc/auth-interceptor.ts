/**
 * The server's one interceptor: every call to a method served through GrpcServer passes it.
 *
 * - With an authorizer, it checks the call's `authorization` metadata when the headers arrive,
 *   before the request body is read: a refused call is answered UNAUTHENTICATED or
 *   PERMISSION_DENIED (one warning naming the method, the peer and the reason; never the token)
 *   and its handler never runs. An accepted caller is handed to the handler's context.
 * - A path the server did not register through `addService` (a service added to `raw` by hand)
 *   is refused: nothing is served around the authorizer.
 * - Statuses grpc-js sends by itself without reaching a handler (a request larger than the
 *   server accepts) are logged too, so the operator sees why a client failed.
 */
import { quoted } from "../util/excerpt.js";
import type { DescMethod } from "@bufbuild/protobuf";
import {
  Metadata,
  ServerInterceptingCall,
  status as Status,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
} from "@grpc/grpc-js";
import type { Logger } from "../log.js";
import { AuthError, type CallAuthorizer, type Principal } from "./auth.js";
import { toGrpcStatus } from "./status.js";

export interface AuthInterceptorOptions {
  /** Methods served through `addService`, by HTTP/2 path. */
  methods: ReadonlyMap<string, DescMethod>;
  /** Absent: every registered method is served to anyone (loopback, zero-config). */
  authorizer: CallAuthorizer | undefined;
  /** Where an accepted caller is left for the handler, keyed by the call's metadata. */
  principals: WeakMap<Metadata, Principal>;
  log: Logger;
}

function authorizationOf(md: Metadata): string | undefined {
  const v = md.get("authorization")[0];
  return typeof v === "string" ? v : undefined;
}

/** Logs statuses grpc-js itself ends a call with (the handler never saw the request). */
function watchOwnStatuses(call: ServerInterceptingCallInterface, path: string, log: Logger): void {
  const send = call.sendStatus.bind(call);
  // grpc-js's base call sends these through its own `sendStatus`; shadowing it on this one call
  // object is the only place they can be observed.
  call.sendStatus = (status) => {
    if (status.code === Status.RESOURCE_EXHAUSTED && status.details?.startsWith("Received") === true)
      log.warn(
        { method: path, peer: call.getPeer(), reason: status.details },
        "refused a call: the request is larger than this server accepts",
      );
    send(status);
  };
}

export function authInterceptor(opts: AuthInterceptorOptions): ServerInterceptor {
  const { methods, authorizer, principals, log } = opts;
  return (def, call) => {
    watchOwnStatuses(call, def.path, log);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (md, pass) => {
            const method = methods.get(def.path);
            const peer = call.getPeer();
            try {
              if (method === undefined)
                throw new AuthError(
                  "permission_denied",
                  `${quoted(def.path)} is not served through the adapter`,
                );
              if (authorizer !== undefined) {
                const principal = authorizer.authorize({ method, authorization: authorizationOf(md), peer });
                principals.set(md, principal);
              }
            } catch (err: unknown) {
              const status = toGrpcStatus(err, {
                onInternal: (ref, cause) =>
                  log.error({ err: cause, method: def.path, ref }, "internal error while authorizing a call"),
              });
              if (err instanceof AuthError)
                log.warn(
                  { method: method?.name ?? def.path, peer, failure: err.code, reason: err.message },
                  "refused a call",
                );
              call.sendStatus(status);
              return;
            }
            pass(md);
          },
        }),
    });
  };
}
