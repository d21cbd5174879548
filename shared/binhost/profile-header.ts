/**
 * The profile keys of a binhost index header: what lets a client without a local copy of the
 * profile (`emerge --usepkgonly` on a bare host) evaluate the packages' USE.
 *
 * Portage writes them when it writes PKGDIR/Packages (`binarytree._update_pkgindex_header`)
 * and a client merges them from every remote index it reads into its config defaults
 * (`binarytree._merge_pkgindex_header` → `_propagate_config`): the implicit-IUSE variables of
 * `iter_iuse_vars` (IUSE_IMPLICIT, USE_EXPAND_IMPLICIT, USE_EXPAND_UNPREFIXED, USE_EXPAND, and
 * USE_EXPAND_VALUES_<X> for each X of USE_EXPAND_UNPREFIXED or USE_EXPAND that is also in
 * USE_EXPAND_IMPLICIT) as a union of words, and ARCH when the client has none.
 * Source: gentoo/portage a20ef27a (2026-08-22), lib/portage/package/ebuild/profile_iuse.py
 * `iter_iuse_vars` and lib/portage/dbapi/bintree.py `_merge_pkgindex_header`.
 *
 * The farm's index carries the same merge of what its publishers' PKGDIR indexes said, so a
 * binhost fed by several stages reads to a client as their profiles merged would.
 */
import { StagefarmError } from "../errors.js";

/** The keys a client merges, before the per-variable USE_EXPAND_VALUES_* ones. */
const IUSE_VARS = ["IUSE_IMPLICIT", "USE_EXPAND_IMPLICIT", "USE_EXPAND_UNPREFIXED", "USE_EXPAND"] as const;

/** Bounds on what a publisher may send: a real amd64 profile has ~10 such keys of ≤ 4 KiB. */
export const PROFILE_HEADER_LIMITS = { keys: 128, valueBytes: 65_536 } as const;

const KEY = /^[A-Z][A-Z0-9_]*$/;

/**
 * The profile keys of a `Packages` header (portage's `iter_iuse_vars`, plus ARCH). Keys with
 * an empty value are left out: the header writer drops them too.
 */
export function profileHeaderOf(header: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  const take = (k: string): void => {
    const v = header[k];
    if (v !== undefined && v.trim() !== "") out[k] = v.trim();
  };
  for (const k of IUSE_VARS) take(k);
  const implicit = new Set(words(header.USE_EXPAND_IMPLICIT));
  for (const v of [...words(header.USE_EXPAND_UNPREFIXED), ...words(header.USE_EXPAND)])
    if (implicit.has(v) && KEY.test(v)) take(`USE_EXPAND_VALUES_${v}`);
  take("ARCH");
  return out;
}

/**
 * `src` merged into `dest` as a client merges two indexes: each implicit-IUSE variable is the
 * sorted union of both sides' words; ARCH stays `dest`'s when it has one. Returns a new record.
 */
export function mergeProfileHeader(
  dest: Readonly<Record<string, string>>,
  src: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = { ...dest };
  for (const [k, v] of Object.entries(profileHeaderOf(src))) {
    if (k === "ARCH") continue;
    const before = out[k];
    out[k] = before === undefined ? v : [...new Set([...words(before), ...words(v)])].sort().join(" ");
  }
  if (out.ARCH === undefined && src.ARCH !== undefined && src.ARCH.trim() !== "") out.ARCH = src.ARCH.trim();
  return out;
}

/** Refuses a profile header a publisher sent that no portage would write (`invalid_argument`). */
export function checkProfileHeader(header: Readonly<Record<string, string>>, where: string): void {
  const entries = Object.entries(header);
  if (entries.length > PROFILE_HEADER_LIMITS.keys)
    throw new StagefarmError(
      "invalid_argument",
      `${where}: ${entries.length} profile header keys (at most ${PROFILE_HEADER_LIMITS.keys})`,
    );
  for (const [k, v] of entries) {
    if (!KEY.test(k) || k.length > 128)
      throw new StagefarmError(
        "invalid_argument",
        `${where}: "${k.slice(0, 40)}" is not an index header key`,
      );
    if (k !== "ARCH" && !k.startsWith("USE_EXPAND") && k !== "IUSE_IMPLICIT")
      throw new StagefarmError("invalid_argument", `${where}: ${k} is not a profile key of the index header`);
    if (Buffer.byteLength(v) > PROFILE_HEADER_LIMITS.valueBytes || /\p{Cc}/u.test(v))
      throw new StagefarmError(
        "invalid_argument",
        `${where}: the value of ${k} is over ${PROFILE_HEADER_LIMITS.valueBytes} bytes or has control characters`,
      );
  }
}

function words(v: string | undefined): string[] {
  return v === undefined ? [] : v.split(/\s+/).filter((w) => w !== "");
}
