/**
 * Who the page acts as (`GET whoami`: the name and role of the token cookie or of anonymous
 * access; `admin` when the server checks no tokens), fetched once per page load. Actions the
 * role may not take are shown disabled with the role they need: the server refuses them anyway
 * (coordinator/auth/http-auth.ts), the page only says so up front.
 */
import { useEffect, useState } from "preact/hooks";
import { ApiError, apiUrl, getJson } from "./client";

export type Role = "viewer" | "submitter" | "admin";
const ROLES: readonly Role[] = ["viewer", "submitter", "admin"];

export interface Whoami {
  name: string;
  role: string;
}

/** The caller; `"sign-in"` when the server wants a token; `"unknown"` when it did not say. */
export type Caller = Whoami | "sign-in" | "unknown";

let loading: Promise<Caller> | undefined;
/** The answer once it came: components mounted later start with it (no enabled-then-disabled flash). */
let known: Caller | undefined;

export function loadCaller(): Promise<Caller> {
  loading ??= getJson<Whoami>(apiUrl("whoami"))
    .catch((err: unknown): Caller => (err instanceof ApiError && err.status === 401 ? "sign-in" : "unknown"))
    .then((c) => (known = c));
  return loading;
}

/** The caller, once known (undefined while loading). */
export function useCaller(): Caller | undefined {
  const [who, setWho] = useState<Caller | undefined>(known);
  useEffect(() => {
    let live = true;
    void loadCaller().then((w) => {
      if (live) setWho(w);
    });
    return () => {
      live = false;
    };
  }, []);
  return who;
}

/** The signed-in (or anonymous) caller, when known. */
export function useWhoami(): Whoami | undefined {
  const who = useCaller();
  return typeof who === "object" ? who : undefined;
}

/** Whether `who` is a named token (not anonymous access, not a server without tokens). */
export function signedIn(who: Whoami): boolean {
  return who.name !== "anonymous" && who.name !== "anyone";
}

/** Whether the caller may take an action that needs `need`, and if not, why (a button's title). */
export function permits(who: Whoami | undefined, need: Role): { ok: boolean; why?: string } {
  // Unknown (loading, or an older server): offer it; the server has the last word.
  if (who === undefined) return { ok: true };
  const have = ROLES.indexOf(who.role as Role);
  if (have >= ROLES.indexOf(need)) return { ok: true };
  return { ok: false, why: `needs the ${need} role (${who.name} has ${who.role})` };
}
