/**
 * Known noise, as data: differences that come from when or where a tree was built rather than
 * from what was built. Every rule is named, documented (docs/diff.md) and narrow:
 *
 * - an **attribute** rule explains a whole attribute (every mtime difference is noise);
 * - a **content** rule masks named fields of a file format (the mtime in a gzip header), and
 *   applies only when the bytes on *both* sides have that format; the two files are then
 *   compared by the sha256 of their content with those fields masked. Any other differing byte
 *   still makes the masked digests differ, so a content rule never hides a content difference.
 *
 * A rule applies by the file's own bytes (magic numbers, line syntax), its path narrowing the
 * candidates; a file that does not parse as the format is compared byte for byte.
 */

export const NOISE_IDS = ["mtime", "pyc-timestamp", "gzip-mtime", "vdb-contents", "vdb-build-time"] as const;
export type NoiseId = (typeof NOISE_IDS)[number];

export interface NoiseInfo {
  /** Short label for the human summary ("12 files: .pyc timestamps"). */
  label: string;
  /** One line for docs and `--json` consumers. */
  describe: string;
}

export const NOISE: Readonly<Record<NoiseId, NoiseInfo>> = {
  mtime: {
    label: "mtimes",
    describe: "modification times in the archive headers (the build's clock)",
  },
  "pyc-timestamp": {
    label: ".pyc timestamps",
    describe:
      "the source mtime in a timestamp-based .pyc header (PEP 552: flags 0, bytes 8-11); the source size and the code are compared",
  },
  "gzip-mtime": {
    label: "gzip header mtimes",
    describe: "the MTIME field of a gzip member header (RFC 1952 bytes 4-7); the compressed data is compared",
  },
  "vdb-contents": {
    label: "CONTENTS mtimes and md5s of noisy files",
    describe:
      "in var/db/pkg/*/*/CONTENTS, the mtime column, and the md5 of a file whose own differences are all noise; the paths, their kinds, symlink targets and every other md5 are compared",
  },
  "vdb-build-time": {
    label: "BUILD_TIME",
    describe: "var/db/pkg/*/*/BUILD_TIME when it holds only a decimal timestamp",
  },
};

/** A content rule: the bytes it reads (a header, or the whole small file) and how it masks them. */
export interface ContentRule {
  id: NoiseId;
  /** Whether the path is a candidate (cheap; the bytes decide). */
  candidate(path: string): boolean;
  /** "head": the first `bytes` bytes are masked and the rest compared as is; "whole": the file. */
  reads: { t: "head"; bytes: number } | { t: "whole"; maxBytes: number };
  /** The masked bytes, or undefined when they are not this format (then nothing is masked). */
  mask(bytes: Buffer): Buffer | undefined;
}

/** PEP 552 (Python 3.7+): magic (2 bytes + "\r\n"), flags (u32 LE), mtime (u32), size (u32). */
const pycTimestamp: ContentRule = {
  id: "pyc-timestamp",
  candidate: (path) => path.endsWith(".pyc") || path.endsWith(".pyo"),
  reads: { t: "head", bytes: 16 },
  mask(head) {
    if (head.length < 16 || head[2] !== 0x0d || head[3] !== 0x0a) return undefined;
    if (head.readUInt16LE(0) < 3394) return undefined; // before 3.7: another header layout
    if (head.readUInt32LE(4) !== 0) return undefined; // hash-based .pyc: nothing time-made
    const out = Buffer.from(head);
    out.fill(0, 8, 12);
    return out;
  },
};

/** RFC 1952: ID1 ID2 CM(8) FLG MTIME(4 bytes) XFL OS. */
const gzipMtime: ContentRule = {
  id: "gzip-mtime",
  candidate: () => true,
  reads: { t: "head", bytes: 10 },
  mask(head) {
    if (head.length < 10 || head[0] !== 0x1f || head[1] !== 0x8b || head[2] !== 0x08) return undefined;
    const out = Buffer.from(head);
    out.fill(0, 4, 8);
    return out;
  },
};

const VDB_FILE = /(?:^|\.contents\/)var\/db\/pkg\/[^/]+\/[^/]+\/([^/]+)$/;
const vdbFile = (path: string, name: string): boolean => VDB_FILE.exec(path)?.[1] === name;

const buildTime: ContentRule = {
  id: "vdb-build-time",
  candidate: (path) => vdbFile(path, "BUILD_TIME"),
  reads: { t: "whole", maxBytes: 64 },
  mask: (bytes) => (/^[0-9]+\n?$/.test(bytes.toString("latin1")) ? Buffer.from("0\n") : undefined),
};

/** Tried in order; the first whose path and bytes match applies. */
export const CONTENT_RULES: readonly ContentRule[] = [buildTime, pycTimestamp, gzipMtime];
