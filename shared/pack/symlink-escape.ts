/**
 * Whether a relative symlink escapes the root once the *other* symlinks of the archive are
 * followed the way the kernel will follow them after extraction. A lexical check is not enough:
 * with `d/up -> ..` (fine: the root) and `x -> d/up/..` (lexically "d", fine), `x` really
 * points at the parent of the root, because `d/up` is replaced by the root before ".." is
 * applied.
 *
 * Absolute targets are allowed by policy (inside a rootfs they are resolved in a chroot), so
 * following stops, without complaint, at the first absolute link.
 */
import { parentOf } from "./member-path.js";

/** The kernel's limit on links followed in one lookup; a longer chain fails with ELOOP there. */
const MAX_HOPS = 40;

/**
 * Follows `target` from the directory of `link` through `links` (member → target, normalised
 * member names). Returns the member where the walk climbed above the root, or undefined.
 */
export function physicalEscape(
  link: string,
  target: string,
  links: ReadonlyMap<string, string>,
): string | undefined {
  const cur = parentOf(link)
    .split("/")
    .filter((c) => c !== "");
  const todo = target.split("/").reverse();
  let via = link;
  let hops = 0;
  for (let c = todo.pop(); c !== undefined; c = todo.pop()) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (cur.length === 0) return via;
      cur.pop();
      continue;
    }
    cur.push(c);
    const next = links.get(cur.join("/"));
    if (next === undefined) continue;
    hops += 1;
    if (hops > MAX_HOPS || next.startsWith("/")) return undefined;
    via = cur.join("/");
    cur.pop();
    for (const part of next.split("/").reverse()) todo.push(part);
  }
  return undefined;
}
