/**
 * Hash routes, so the server serves one page and no path needs a fallback:
 * `#/runs?status=&pipeline=`, `#/runs/ID`, `#/runs/ID/stages/NAME`, `#/agents`, `#/cache`.
 */
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { page: "runs"; status: string; pipeline: string }
  | { page: "run"; id: string; stage?: string }
  | { page: "agents" }
  | { page: "cache" }
  | { page: "sign-in" };

export function parseRoute(hash: string): Route {
  const [path = "", query = ""] = hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter((p) => p !== "");
  const q = new URLSearchParams(query);
  const dec = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  if (parts[0] === "runs" && parts[1] !== undefined)
    return parts[2] === "stages" && parts[3] !== undefined
      ? { page: "run", id: dec(parts[1]), stage: dec(parts[3]) }
      : { page: "run", id: dec(parts[1]) };
  if (parts[0] === "agents") return { page: "agents" };
  if (parts[0] === "cache") return { page: "cache" };
  if (parts[0] === "sign-in") return { page: "sign-in" };
  return { page: "runs", status: q.get("status") ?? "", pipeline: q.get("pipeline") ?? "" };
}

export function runHref(id: string, stage?: string): string {
  const base = `#/runs/${encodeURIComponent(id)}`;
  return stage === undefined ? base : `${base}/stages/${encodeURIComponent(stage)}`;
}

export function runsHref(status: string, pipeline: string): string {
  const q = new URLSearchParams();
  if (status !== "") q.set("status", status);
  if (pipeline !== "") q.set("pipeline", pipeline);
  const s = q.toString();
  return s === "" ? "#/runs" : `#/runs?${s}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = (): void => setRoute(parseRoute(location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}
