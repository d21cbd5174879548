/**
 * The `Packages` index entry of one binary package, as portage makes it when it injects a
 * package (`binarytree.inject` → `_read_metadata`, `_eval_use_flags`, `_pkgindex_entry`).
 *
 * Protocol
 * - Keys: the package's own BDEPEND, BUILD_ID, BUILD_TIME, CHOST, DEFINED_PHASES, DEPEND, EAPI,
 *   IDEPEND, IUSE, KEYWORDS, LICENSE, PDEPEND, PROPERTIES, PROVIDES, RDEPEND, REQUIRES, RESTRICT,
 *   SLOT, USE and REPO (metadata `repository`), plus CPV (`CATEGORY/PF`), PATH, SIZE, MTIME, MD5
 *   and SHA1 of the file. Other metadata (DESCRIPTION, CBUILD, REPO_REVISIONS…) is not indexed.
 * - Values are whitespace-normalised (`" ".join(v.split())`); empty ones are left out; a missing
 *   EAPI is "0". USE is taken as the package recorded it: portage filtered it to IUSE (plus the
 *   profile's implicit flags) when it built the package and does not filter it again here.
 * - The *DEPEND keys, LICENSE, PROPERTIES and RESTRICT are USE-evaluated (./dep-reduce.ts).
 * - BUILD_ID is the package's own (portage never takes it from the file name, and accepts a
 *   file name whose number differs from it).
 * - Refused (`invalid_argument`, naming the package): no CATEGORY, PF or SLOT, a PF that is
 *   not `<PN>-<PV>`, a path that is not `<CATEGORY>/<PN>/<PF>-<N>.{gpkg.tar,xpak}` (or the
 *   single-instance `<CATEGORY>/<PF>.{gpkg.tar,tbz2}`), a non-numeric BUILD_ID, a dependency
 *   string portage cannot parse, malformed sizes or hashes.
 */
import { StagefarmError } from "../errors.js";
import { evaluateDeps, normaliseSpace, splitWords } from "./dep-reduce.js";
import { isCategory, splitPf } from "./names.js";

export interface StanzaSource {
  /** The package's metadata keys (gpkg `metadata/<KEY>` files or XPAK entries). */
  metadata: Record<string, string>;
  /** Path below the binhost root, e.g. `dev-libs/libsigc++/libsigc++-2.12.1-r1-1.gpkg.tar`. */
  path: string;
  /** Bytes of the package file. */
  size: number;
  /** Modification time of the package file, in Unix seconds (fractions are dropped). */
  mtime: number;
  md5: string;
  sha1: string;
}

/** Metadata keys portage copies into an index entry (`bindbapi._aux_cache_keys` less the file's own). */
const COPIED_KEYS = [
  "BDEPEND",
  "BUILD_TIME",
  "CHOST",
  "DEFINED_PHASES",
  "DEPEND",
  "EAPI",
  "IDEPEND",
  "IUSE",
  "KEYWORDS",
  "LICENSE",
  "PDEPEND",
  "PROPERTIES",
  "PROVIDES",
  "RDEPEND",
  "REQUIRES",
  "RESTRICT",
  "SLOT",
  "USE",
] as const;

/** Keys whose USE conditionals portage evaluates before indexing (atoms in the *DEPEND ones). */
const USE_EVALUATED_KEYS = [
  "BDEPEND",
  "DEPEND",
  "IDEPEND",
  "LICENSE",
  "RDEPEND",
  "PDEPEND",
  "PROPERTIES",
  "RESTRICT",
];

const MULTI_INSTANCE = /^([^/]+)\/([^/]+)\/([^/]+)-([1-9][0-9]*)\.(gpkg\.tar|xpak)$/;
const SINGLE_INSTANCE = /^([^/]+)\/([^/]+)\.(gpkg\.tar|tbz2)$/;

function refuse(path: string, why: string): StagefarmError {
  return new StagefarmError("invalid_argument", `binary package ${path}: ${why}`, { details: { path } });
}

/** Checks that `path` is where portage would look for the package `category/pf`. */
function checkLayout(path: string, category: string, pf: string, pn: string): void {
  const multi = MULTI_INSTANCE.exec(path);
  if (multi !== null) {
    if (multi[1] === category && multi[2] === pn && multi[3] === pf) return;
  } else {
    const single = SINGLE_INSTANCE.exec(path);
    if (
      single !== null &&
      single[2] === pf &&
      (single[1] === category || (single[1] === "All" && single[3] === "tbz2"))
    )
      return;
  }
  throw refuse(
    path,
    `the path does not match its metadata: expected ${category}/${pn}/${pf}-<BUILD_ID>.gpkg.tar (or .xpak)`,
  );
}

/** The index entry portage writes for the package `src` (keys as written: REPO, MTIME). */
export function stanzaFor(src: StanzaSource): Record<string, string> {
  const { path } = src;
  const meta = (key: string): string => normaliseSpace(src.metadata[key] ?? "");
  const category = meta("CATEGORY");
  const pf = meta("PF");
  const missing = ["CATEGORY", "PF", "SLOT"].filter((k) => meta(k) === "");
  if (missing.length > 0) throw refuse(path, `its metadata has no ${missing.join(", ")}`);
  if (!isCategory(category)) throw refuse(path, `invalid CATEGORY "${category}"`);
  let pn: string;
  try {
    pn = splitPf(pf).pn;
  } catch (err: unknown) {
    throw refuse(path, `invalid PF: ${StagefarmError.from(err).message}`);
  }
  checkLayout(path, category, pf, pn);
  if (!Number.isSafeInteger(src.size) || src.size < 0) throw refuse(path, `invalid size ${src.size}`);
  if (!Number.isFinite(src.mtime) || src.mtime < 0) throw refuse(path, `invalid mtime ${src.mtime}`);
  if (!/^[0-9a-f]{32}$/.test(src.md5)) throw refuse(path, `invalid MD5 "${src.md5}"`);
  if (!/^[0-9a-f]{40}$/.test(src.sha1)) throw refuse(path, `invalid SHA1 "${src.sha1}"`);

  const entry: Record<string, string> = {};
  for (const key of COPIED_KEYS) entry[key] = meta(key);
  if (entry.EAPI === "") entry.EAPI = "0";
  const buildId = meta("BUILD_ID");
  if (buildId !== "" && !/^[0-9]+$/.test(buildId)) throw refuse(path, `invalid BUILD_ID "${buildId}"`);
  entry.BUILD_ID = buildId === "" ? "" : String(Number(buildId));
  entry.REPO = meta("repository");

  const use = new Set(splitWords(entry.USE ?? ""));
  for (const key of USE_EVALUATED_KEYS) {
    try {
      entry[key] = evaluateDeps(entry[key] ?? "", use, key.endsWith("DEPEND"));
    } catch (err: unknown) {
      throw refuse(path, `invalid ${key}: ${StagefarmError.from(err).message}`);
    }
  }
  Object.assign(entry, {
    CPV: `${category}/${pf}`,
    MD5: src.md5,
    SHA1: src.sha1,
    SIZE: String(src.size),
    MTIME: String(Math.trunc(src.mtime)),
    PATH: path,
  });
  return Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== ""));
}
