/**
 * The GNU tar command line that packs a tree deterministically (DESIGN.md "Cache keys and
 * artifacts"): the same tree gives the same bytes on any host with the same tar and zstd.
 *
 * - `--format=posix` with pax headers named `%d/PaxHeaders/%f` (the default name holds the
 *   pid) and without atime/ctime records; `--sort=name`; `--numeric-owner` (no user names);
 * - `--xattrs --xattrs-include=*`: every extended attribute, file capabilities
 *   (`security.capability`) and POSIX ACLs (`system.posix_acl_*`, in their binary form with
 *   numeric ids) included. `--acls` is deliberately not used: its text form names users via the
 *   host's passwd, which is not deterministic, and the xattrs already carry the ACLs;
 * - `--one-file-system`: file systems mounted inside the tree (proc, sys, dev in a rootfs) are
 *   never packed; their mount points stay as empty directories;
 * - compression by `zstd -3 -T0` (zstd's multi-threaded output does not depend on the thread
 *   count).
 *
 * Exclude patterns are relative to the tree root and anchored there: `var/tmp/*`,
 * `./var/tmp/*` and `/var/tmp/*` all exclude what is inside `<root>/var/tmp` and keep the
 * directory; `var/tmp` excludes the directory and everything below it. Shell wildcards
 * (`*`, `?`, `[…]`), where `*` also matches `/`.
 */
import { StagefarmError } from "../errors.js";

export interface PackOptions {
  /** Paths to leave out, relative to the tree root (see the module comment for the form). */
  exclude?: string[];
  /** Files newer than this (seconds since the epoch) are stored with this mtime. */
  clampMtimeSec?: number;
  signal?: AbortSignal;
}

export const ZSTD_COMPRESS = "zstd -3 -T0 -q";

/** Any accepted form of a pattern → `./var/tmp/…`, tar's own member-name form. */
export function normaliseExclude(pattern: string): string {
  let p = pattern.trim();
  while (p.startsWith("./")) p = p.slice(2);
  p = p.replace(/^\/+/, "").replace(/\/+$/, "");
  if (p === "" || p === ".")
    throw new StagefarmError(
      "invalid_argument",
      `exclude pattern "${pattern}" names the whole tree; give a path below the root, e.g. "var/tmp/*"`,
    );
  return `./${p}`;
}

/** Arguments for `tar` that write the zstd-compressed archive of `root` to stdout. */
export function packTarArgs(root: string, opts: PackOptions): string[] {
  const args = [
    "--create",
    "--file=-",
    "--format=posix",
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    "--sort=name",
    "--numeric-owner",
    "--xattrs",
    "--xattrs-include=*",
    "--one-file-system",
    `--use-compress-program=${ZSTD_COMPRESS}`,
  ];
  if (opts.clampMtimeSec !== undefined) {
    const n = opts.clampMtimeSec;
    if (!Number.isSafeInteger(n) || n < 0)
      throw new StagefarmError(
        "invalid_argument",
        `clampMtimeSec must be a whole number of seconds since the epoch (>= 0), got ${n}`,
      );
    args.push(`--mtime=@${n}`, "--clamp-mtime");
  }
  const excludes = opts.exclude ?? [];
  if (excludes.length > 0) {
    // Options apply to the --exclude options after them.
    args.push("--anchored", "--wildcards", "--wildcards-match-slash");
    for (const pattern of excludes) args.push(`--exclude=${normaliseExclude(pattern)}`);
  }
  args.push("-C", root, ".");
  return args;
}
