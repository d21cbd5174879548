/**
 * The header block of a binhost's index. Portage writes its own profile settings there; the
 * farm knows only what the packages say and what the binhost is configured with:
 * - VERSION 0, PACKAGES (set by the renderer), TIMESTAMP (strictly increasing, set per write);
 * - CHOST when every package has the same one (portage then leaves it out of the package
 *   blocks and readers inherit it from the header);
 * - CBUILD when every package's metadata that has one agrees (kept from the previous header
 *   while new packages agree with it);
 * - the profile keys the publishers' PKGDIR indexes carried (IUSE_IMPLICIT, USE_EXPAND*, ARCH),
 *   merged as a client merges them (shared/binhost/profile-header.ts);
 * - the binhost's configured keys (ARCH, ACCEPT_KEYWORDS, PROFILE, USE, …), which win.
 */
import { StagefarmError } from "../../shared/errors.js";

/** Keys the writer owns: settings may not set them. */
export const RESERVED_HEADER_KEYS: ReadonlySet<string> = new Set(["VERSION", "TIMESTAMP", "PACKAGES"]);

export function checkHeaderSettings(header: Readonly<Record<string, string>>): void {
  for (const [k, v] of Object.entries(header)) {
    if (RESERVED_HEADER_KEYS.has(k))
      throw new StagefarmError("invalid_argument", `the index header key ${k} is set by the binhost itself`);
    if (!/^[A-Z][A-Z0-9_]*$/.test(k))
      throw new StagefarmError("invalid_argument", `"${k}" is not an index header key (A-Z, 0-9, _)`);
    if (/[\r\n]/.test(v))
      throw new StagefarmError("invalid_argument", `the value of header key ${k} contains a line break`);
  }
}

function common(values: Iterable<string | undefined>): string | undefined {
  let seen: string | undefined;
  for (const v of values) {
    if (v === undefined || v === "") return undefined;
    if (seen !== undefined && v !== seen) return undefined;
    seen = v;
  }
  return seen;
}

export interface HeaderInput {
  previous: Readonly<Record<string, string>>;
  /** Every package of the new index, inherited keys filled in. */
  packages: ReadonlyArray<Readonly<Record<string, string>>>;
  /** Metadata of the packages added by this write. */
  added: ReadonlyArray<Readonly<Record<string, string>>>;
  /** The publishers' profile keys, merged. */
  profile: Readonly<Record<string, string>>;
  configured: Readonly<Record<string, string>>;
  timestamp: string;
}

export function buildHeader(input: HeaderInput): Record<string, string> {
  const header: Record<string, string> = {};
  const chost = common(input.packages.map((p) => p.CHOST));
  if (chost !== undefined) header.CHOST = chost;
  const cbuilds = input.added
    .map((m) => m.CBUILD?.trim())
    .filter((v): v is string => v !== undefined && v !== "");
  const cbuild =
    input.packages.length === input.added.length
      ? common(cbuilds.length > 0 ? cbuilds : [undefined])
      : common([input.previous.CBUILD, ...cbuilds]);
  if (cbuild !== undefined && input.packages.length > 0) header.CBUILD = cbuild;
  Object.assign(header, input.profile, input.configured);
  header.VERSION = "0";
  header.TIMESTAMP = input.timestamp;
  return header;
}
