/**
 * Portage's binhost index, the `Packages` file (`portage.getbinpkg.PackageIndex` with the
 * settings of `portage.dbapi.bintree.binarytree`), read and written exactly as portage does.
 *
 * Format
 * - Blocks of `KEY: value` lines (one space after the colon), each block ended by one blank
 *   line. The first block is the header; every other block is one package and has a CPV.
 *   Portage stops reading at a second blank line in a row, so the parser refuses one.
 * - Keys are kept as written. Portage sorts by its internal names, of which three are written
 *   translated: DESCRIPTION as DESC, `_mtime_` as MTIME and `repository` as REPO; so a package
 *   block lists its uppercase keys in order and then MTIME and REPO.
 * - Header: every key with a value, sorted; PACKAGES is the number of packages; TIMESTAMP (Unix
 *   seconds) is set by the writer and must increase with every write (clients compare it with
 *   their cached copy: {@link nextTimestamp}); VERSION is 0.
 * - Packages: sorted by CPV as plain strings (code point order), ties kept in their given
 *   order (Python's sort is stable; portage appends each new build, so builds of one CPV stay
 *   in publication order: this is not a numeric BUILD_ID sort). Empty values are left out, and
 *   so are values equal to portage's defaults (EAPI 0, SLOT 0) or to the header's CHOST / REPO.
 */
import { StagefarmError } from "../errors.js";

export interface PackagesIndex {
  header: Record<string, string>;
  packages: Array<Record<string, string>>;
}

/** Written key → portage's internal name, which decides the order of keys in a block. */
const INTERNAL_NAME: Readonly<Record<string, string>> = {
  DESC: "DESCRIPTION",
  MTIME: "_mtime_",
  REPO: "repository",
};

/** Portage's `_pkgindex_default_pkg_data`: a package value equal to these is not written. */
const PACKAGE_DEFAULTS: Readonly<Record<string, string>> = {
  BDEPEND: "",
  BUILD_ID: "",
  BUILD_TIME: "",
  DEFINED_PHASES: "",
  DEPEND: "",
  EAPI: "0",
  IDEPEND: "",
  IUSE: "",
  KEYWORDS: "",
  LICENSE: "",
  PATH: "",
  PDEPEND: "",
  PROPERTIES: "",
  PROVIDES: "",
  RDEPEND: "",
  REQUIRES: "",
  RESTRICT: "",
  SLOT: "0",
  USE: "",
};

/** Portage's `_pkgindex_inherited_keys`: a package value equal to the header's is not written. */
const INHERITED_KEYS = ["CHOST", "REPO"] as const;

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LINE = /^([A-Za-z_][A-Za-z0-9_]*): (.*)$/;

/** Python's string order (code points), which is UTF-8 byte order. */
function comparePy(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function sortKey(key: string): string {
  return INTERNAL_NAME[key] ?? key;
}

function shown(line: string): string {
  return JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}…` : line);
}

/** One block of a `Packages` text: its lines as written, in file order. */
export interface PackagesBlock {
  /** Line number (1-based) of the block's first line. */
  line: number;
  /** The block's lines, without their "\n". */
  lines: string[];
}

/**
 * Splits the text of a `Packages` file into its blocks, in file order: the runs of non-empty
 * lines (portage's reader ends a block at an empty line; a line of spaces is not empty). Checks
 * nothing and drops the empty lines between blocks, however many; in a well-formed index the
 * first block is the header. {@link parsePackages} builds on it, and the agent uses it to copy
 * emerge's own package blocks verbatim (agent/runners/binpkgs/collect.ts).
 */
export function splitPackagesBlocks(text: string): PackagesBlock[] {
  const lines = text.split("\n");
  if (text.endsWith("\n")) lines.pop(); // the last "\n" ends the last line, it starts no other
  const blocks: PackagesBlock[] = [];
  let current: PackagesBlock | undefined;
  lines.forEach((line, i) => {
    if (line === "") {
      current = undefined;
      return;
    }
    if (current === undefined) {
      current = { line: i + 1, lines: [] };
      blocks.push(current);
    }
    current.lines.push(line);
  });
  return blocks;
}

/**
 * Reads a `Packages` file. Strict: every line is `KEY: value` or the blank line ending a block,
 * the file ends with a newline, a key appears once per block, each package has a CPV and the
 * header has VERSION 0. Errors (`invalid_argument`) name `source` and the line.
 */
export function parsePackages(text: string, source = "Packages"): PackagesIndex {
  const fail = (line: number, why: string): StagefarmError =>
    new StagefarmError("invalid_argument", `${source} line ${line}: ${why}`, {
      details: { source, line },
    });
  const blankAt = (line: number): StagefarmError =>
    fail(
      line,
      line === 1
        ? "the index starts with a blank line instead of its header"
        : "a second blank line in a row (portage stops reading the index there)",
    );
  if (text === "") throw fail(1, "the index is empty (it needs at least a header block)");
  if (!text.endsWith("\n")) throw fail(text.split("\n").length, "the last line does not end with a newline");
  const blocks: Array<{ start: number; fields: Record<string, string>; lines: Record<string, number> }> = [];
  /** Where the next block must start: line 1, or right after the blank line ending the last one. */
  let next = 1;
  for (const block of splitPackagesBlocks(text)) {
    if (block.line > next) throw blankAt(next);
    const parsed: (typeof blocks)[number] = { start: block.line, fields: {}, lines: {} };
    block.lines.forEach((line, i) => {
      const n = block.line + i;
      if (line.includes("\r")) throw fail(n, "carriage return in the line (the index uses LF line ends)");
      const m = LINE.exec(line);
      const [, key = "", value = ""] = m ?? [];
      if (m === null) throw fail(n, `expected "KEY: value", got ${shown(line)}`);
      const seen = parsed.lines[key];
      if (seen !== undefined)
        throw fail(n, `${key} appears a second time in the block (first on line ${seen})`);
      parsed.fields[key] = value;
      parsed.lines[key] = n;
    });
    blocks.push(parsed);
    next = block.line + block.lines.length + 1;
  }
  const lineCount = text.split("\n").length - 1;
  if (lineCount >= next) throw blankAt(next);
  const [head, ...rest] = blocks;
  if (head === undefined) throw fail(1, "the index has no header block");
  const version = head.fields.VERSION;
  if (version === undefined)
    throw fail(head.start, "the header has no VERSION (portage ignores such an index)");
  if (!/^[0-9]+$/.test(version) || Number(version) !== 0)
    throw fail(
      head.lines.VERSION ?? head.start,
      `VERSION ${version} is not supported (portage reads VERSION 0)`,
    );
  for (const b of rest) if (b.fields.CPV === undefined) throw fail(b.start, "this package block has no CPV");
  return { header: head.fields, packages: rest.map((b) => b.fields) };
}

/** Packages in portage's order: by CPV (code point order), ties in their given order. */
export function sortPackages<T extends Readonly<Record<string, string>>>(packages: readonly T[]): T[] {
  return [...packages].sort((a, b) => comparePy(a.CPV ?? "", b.CPV ?? ""));
}

function renderBlock(fields: Readonly<Record<string, string>>, what: string): string {
  const keys = Object.keys(fields)
    .filter((k) => fields[k] !== "")
    .sort((a, b) => comparePy(sortKey(a), sortKey(b)));
  let out = "";
  for (const key of keys) {
    const value = fields[key] ?? "";
    if (!KEY.test(key)) throw new StagefarmError("invalid_argument", `${what}: invalid key ${shown(key)}`);
    if (/[\n\r]/.test(value))
      throw new StagefarmError("invalid_argument", `${what}: the value of ${key} contains a line break`);
    out += `${key}: ${value}\n`;
  }
  return `${out}\n`;
}

/** A package's fields as portage writes them: without defaults and values the header carries. */
function writtenFields(
  pkg: Readonly<Record<string, string>>,
  header: Readonly<Record<string, string>>,
): Record<string, string> {
  const out = { ...pkg };
  for (const key of INHERITED_KEYS) {
    const inherited = header[key];
    if (inherited !== undefined && inherited !== "" && out[key] === inherited) delete out[key];
  }
  for (const [key, value] of Object.entries(PACKAGE_DEFAULTS)) if (out[key] === value) delete out[key];
  return out;
}

/**
 * Writes the index as portage does. PACKAGES is set to the number of packages; TIMESTAMP and
 * VERSION come from `index.header` and must be there. Throws `invalid_argument` for a package
 * without CPV, an invalid key or a value with a line break.
 */
export function renderPackages(index: PackagesIndex): string {
  const header: Record<string, string> = { ...index.header, PACKAGES: String(index.packages.length) };
  for (const key of ["TIMESTAMP", "VERSION"])
    if ((header[key] ?? "") === "")
      throw new StagefarmError(
        "invalid_argument",
        `cannot write a Packages index without ${key} in its header`,
      );
  let out = renderBlock(header, "Packages header");
  index.packages.forEach((pkg, i) => {
    if ((pkg.CPV ?? "") === "")
      throw new StagefarmError(
        "invalid_argument",
        `cannot write a Packages index: package ${i + 1} has no CPV`,
      );
  });
  for (const pkg of sortPackages(index.packages))
    out += renderBlock(writtenFields(pkg, header), `Packages entry ${pkg.CPV ?? ""}`);
  return out;
}

/** A package's fields as portage sees them after reading: defaults and the header's CHOST/REPO filled in. */
export function withIndexDefaults(
  header: Readonly<Record<string, string>>,
  pkg: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = { ...PACKAGE_DEFAULTS, ...pkg };
  for (const key of INHERITED_KEYS) {
    const inherited = header[key];
    if (inherited !== undefined && inherited !== "" && pkg[key] === undefined) out[key] = inherited;
  }
  return out;
}

/**
 * The TIMESTAMP for the next write of an index whose current TIMESTAMP is `previous`: the
 * current Unix time in seconds, or one more than `previous` if that is not later, so that every
 * write increases it (portage clients skip downloading an index whose TIMESTAMP they have).
 */
export function nextTimestamp(previous: string | undefined, now: Date = new Date()): string {
  const seconds = Math.floor(now.getTime() / 1000);
  const last = previous !== undefined && /^[0-9]+$/.test(previous) ? Number(previous) : -1;
  return String(Math.max(seconds, last + 1));
}
