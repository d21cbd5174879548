/**
 * Bounds on what one archive may unpack to, checked per entry before anything is written:
 *
 * - a path component is at most 255 bytes (NAME_MAX on every Linux file system; longer fails
 *   in the middle of extraction);
 * - a path is at most {@link DEFAULT_MAX_DEPTH} components deep and, with the destination's own
 *   path in front, fits in PATH_MAX (4096 bytes): GNU tar extracts deeper trees through
 *   descriptors, but then nothing that works by path (removing the workspace, the stage's own
 *   tools) can reach them;
 * - the regular files add up to at most `maxUnpackedBytes` (sparse files counted by their real
 *   size): a 33 KB archive can otherwise fill the disk.
 */
import { quoted } from "../util/excerpt.js";

export interface UnpackLimits {
  /** Most bytes of file content one archive may unpack to (default
   *  {@link DEFAULT_MAX_UNPACKED_BYTES}; `Infinity` for no limit). */
  maxUnpackedBytes?: number;
  /** Most components in a member path (default {@link DEFAULT_MAX_DEPTH}). */
  maxDepth?: number;
  /** Most bytes in a member path relative to the destination; unlimited when undefined. */
  maxPathBytes?: number;
}

/** Deeper than any real root file system (a Gentoo stage3 stays under 30); 2000 is an attack. */
export const DEFAULT_MAX_DEPTH = 256;

/**
 * 64 GiB: a Gentoo stage3 unpacks to a few GiB, a full desktop root with sources and a toolchain
 * build tree to tens; a hostile archive that claims more fails before writing anything.
 */
export const DEFAULT_MAX_UNPACKED_BYTES = 64 * 2 ** 30;

/** NAME_MAX. */
export const MAX_COMPONENT_BYTES = 255;

/** Linux's PATH_MAX less the terminating NUL. */
const PATH_MAX_BYTES = 4095;

/** The longest member path that, below the absolute directory `dest`, still fits in PATH_MAX. */
export function pathBudgetBelow(dest: string): number {
  return PATH_MAX_BYTES - Buffer.byteLength(dest) - 1;
}

/** Why the normalised member path `member` is over a limit, or undefined. */
export function limitProblem(member: string, limits: UnpackLimits): string | undefined {
  if (member === "") return undefined;
  const parts = member.split("/");
  const long = parts.find((p) => Buffer.byteLength(p) > MAX_COMPONENT_BYTES);
  if (long !== undefined)
    return `path component longer than ${MAX_COMPONENT_BYTES} bytes: ${quoted(long, 60)} (${Buffer.byteLength(long)} bytes)`;
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (parts.length > maxDepth)
    return `its path is ${parts.length} directories deep, over the limit of ${maxDepth}`;
  const bytes = Buffer.byteLength(member);
  if (limits.maxPathBytes !== undefined && bytes > limits.maxPathBytes)
    return `its path is ${bytes} bytes long, over the limit of ${limits.maxPathBytes} bytes (PATH_MAX less the destination's own path)`;
  return undefined;
}

/**
 * The bytes a regular file takes once extracted: its size, or a GNU sparse file's real size
 * (pax `GNU.sparse.realsize`, format 1.0; `GNU.sparse.size`, 0.x). Undefined when that record is
 * not a plain decimal number.
 */
export function unpackedSize(size: number, pax: Readonly<Record<string, string>> | null): number | undefined {
  const real = pax?.["GNU.sparse.realsize"] ?? pax?.["GNU.sparse.size"];
  if (real === undefined) return size;
  if (!/^[0-9]{1,15}$/.test(real)) return undefined;
  return Math.max(size, Number(real));
}
