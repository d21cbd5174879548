/**
 * Whether a relative symlink escapes the root once the *other* symlinks of the archive are
 * followed the way the kernel will follow them after extraction. A lexical check is not enough:
 * with `d/up -> ..` (fine: the root) and `x -> d/up/..` (lexically "d", fine), `x` really
 * points at the parent of the root, because `d/up` is replaced by the root before ".." is
 * applied.
 *
 * Absolute targets are allowed by policy (inside a rootfs they are resolved in a chroot), so
 * following stops, without complaint, at the first absolute link; so does a chain longer than
 * the kernel follows (ELOOP there). The work per link is bounded by a step budget: a chain
 * that needs more than that to resolve is reported as too complex (refused), never waved through.
 */
import { parentOf } from "./member-path.js";

/** The kernel's limit on links followed in one lookup; a longer chain fails with ELOOP there. */
const MAX_HOPS = 40;

export type Resolution = { t: "inside" } | { t: "escapes"; via: string } | { t: "too-complex" };

/** Counts path components walked; shared by all the links of one archive. */
export interface StepBudget {
  left: number;
}

/**
 * Follows `target` from the directory of `link` through `links` (member → target, normalised
 * member names), spending at most `perLink` steps and drawing them from `budget`.
 */
export function resolveLink(
  link: string,
  target: string,
  links: ReadonlyMap<string, string>,
  budget: StepBudget,
  perLink: number,
): Resolution {
  const cur = parentOf(link)
    .split("/")
    .filter((c) => c !== "");
  const todo = target.split("/").reverse();
  let via = link;
  let hops = 0;
  let steps = 0;
  for (let c = todo.pop(); c !== undefined; c = todo.pop()) {
    steps += 1;
    budget.left -= 1;
    if (steps > perLink || budget.left < 0) return { t: "too-complex" };
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (cur.length === 0) return { t: "escapes", via };
      cur.pop();
      continue;
    }
    cur.push(c);
    const next = links.get(cur.join("/"));
    if (next === undefined) continue;
    hops += 1;
    if (hops > MAX_HOPS || next.startsWith("/")) return { t: "inside" };
    via = cur.join("/");
    cur.pop();
    for (const part of next.split("/").reverse()) todo.push(part);
  }
  return { t: "inside" };
}
