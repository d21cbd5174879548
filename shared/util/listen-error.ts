/**
 * The error for a server that cannot listen: one line naming the address and, for the usual
 * causes, what to do. `unavailable` (nothing the request itself did wrong), never a stack.
 */
import { StagefarmError } from "../errors.js";
import { errnoOf } from "./fs.js";

const HINTS: Readonly<Record<string, string>> = {
  EADDRINUSE: "the address is already in use (another stagefarm, or another service on that port?)",
  EACCES: "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
  EADDRNOTAVAIL: "no network interface of this host has that address",
};

export function listenError(what: string, address: string, err: unknown): StagefarmError {
  const errno = errnoOf(err);
  const why =
    (errno !== undefined ? HINTS[errno] : undefined) ?? (err instanceof Error ? err.message : String(err));
  return new StagefarmError("unavailable", `${what} cannot listen on ${address}: ${why}`, {
    cause: err,
    details: errno !== undefined ? { errno } : {},
  });
}
