/**
 * A tar-stream header as GNU tar's verbose listing would show it (./gnu-listing.ts), so the two
 * parsers' views of each member compare field by field: `ls -l` type letter and permission
 * bits, size (a sparse file's real size; "major,minor" for a device), link target.
 */
import type { Header } from "tar-stream";
import type { ListedMember } from "./gnu-listing.js";
import { unpackedSize } from "./unpack-limits.js";

const TYPE_LETTER: Readonly<Record<string, string>> = {
  file: "-",
  link: "h",
  symlink: "l",
  directory: "d",
  fifo: "p",
  "character-device": "c",
  "block-device": "b",
  "contiguous-file": "C",
};

/** `rwxr-sr-t`-style permission bits, as `ls -l` (and GNU tar) print them. */
export function permissionString(mode: number): string {
  const bit = (m: number, c: string): string => ((mode & m) !== 0 ? c : "-");
  const special = (x: number, s: number, on: string): string =>
    (mode & s) !== 0 ? ((mode & x) !== 0 ? on : on.toUpperCase()) : bit(x, "x");
  return (
    bit(0o400, "r") +
    bit(0o200, "w") +
    special(0o100, 0o4000, "s") +
    bit(0o040, "r") +
    bit(0o020, "w") +
    special(0o010, 0o2000, "s") +
    bit(0o004, "r") +
    bit(0o002, "w") +
    special(0o001, 0o1000, "t")
  );
}

/** The member as tar-stream read it, in GNU tar's listing terms; `name` is the name extracted. */
export function toListedMember(h: Header, name: string, pax: Record<string, string> | null): ListedMember {
  const type: unknown = h.type;
  const linkname: unknown = h.linkname;
  const letter = (typeof type === "string" ? TYPE_LETTER[type] : undefined) ?? "?";
  const device = letter === "c" || letter === "b";
  const size = device
    ? `${h.devmajor ?? 0},${h.devminor ?? 0}`
    : String(unpackedSize(h.size ?? 0, pax) ?? "?");
  const target = typeof linkname === "string" ? linkname : "";
  const link = letter === "l" ? ` -> ${target}` : letter === "h" ? ` link to ${target}` : "";
  return { name, mode: `${letter}${permissionString(h.mode ?? 0)}`, size, link };
}
