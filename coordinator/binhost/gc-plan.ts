/**
 * Which builds a binhost gc removes: per CPV and USE (the same package built with other flags
 * is a different thing to keep), the newest `keep` builds stay, newest by BUILD_TIME, then by
 * BUILD_ID. A dry run and the real gc both call this on the index they see, so a dry run
 * reports exactly what a gc of the same index removes.
 */
import { StagefarmError } from "../../shared/errors.js";

export interface GcCandidate {
  path: string;
  cpv: string;
  buildId: number;
  buildTime: number;
  use: string;
  size: number;
}

export interface GcPlan {
  remove: GcCandidate[];
  keep: GcCandidate[];
}

function num(v: string | undefined): number {
  const n = Number(v ?? "");
  return Number.isFinite(n) ? n : 0;
}

export function candidateOf(pkg: Readonly<Record<string, string>>): GcCandidate {
  return {
    path: pkg.PATH ?? "",
    cpv: pkg.CPV ?? "",
    buildId: num(pkg.BUILD_ID),
    buildTime: num(pkg.BUILD_TIME),
    use: (pkg.USE ?? "")
      .split(/\s+/)
      .filter((f) => f !== "")
      .sort()
      .join(" "),
    size: num(pkg.SIZE),
  };
}

export function planGc(packages: ReadonlyArray<Readonly<Record<string, string>>>, keep: number): GcPlan {
  if (!Number.isSafeInteger(keep) || keep < 1)
    throw new StagefarmError("invalid_argument", `gc --keep must be a positive integer, got ${keep}`);
  const groups = new Map<string, GcCandidate[]>();
  for (const pkg of packages) {
    const c = candidateOf(pkg);
    const key = `${c.cpv}\0${c.use}`;
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [c]);
    else list.push(c);
  }
  const plan: GcPlan = { remove: [], keep: [] };
  for (const list of groups.values()) {
    list.sort((a, b) => b.buildTime - a.buildTime || b.buildId - a.buildId);
    plan.keep.push(...list.slice(0, keep));
    plan.remove.push(...list.slice(keep));
  }
  const byPath = (a: GcCandidate, b: GcCandidate): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  plan.remove.sort(byPath);
  plan.keep.sort(byPath);
  return plan;
}
