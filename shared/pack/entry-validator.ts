/**
 * The rules an archive must pass before anything is extracted (DESIGN.md "Security"). Fed the
 * headers in archive order, it keeps a model of the tree extraction would build (member →
 * kind, directories implied by deeper members included) and refuses, with `unsafe_archive`:
 *
 * - absolute member paths, ".." components, NUL bytes, empty pax `path`/`linkpath` records;
 * - a pax global header that renames entries (`path`, `linkpath`, … : GNU tar applies it to
 *   every later member, so the names checked would not be the names written);
 * - hardlinks whose target is absolute, has "..", or is not an earlier regular file, and
 *   hardlinks with a size (GNU tar ignores it and reads what tar-stream skips as data as the
 *   next header: a member the check would never see);
 * - symlinks with an empty target, or a relative target that climbs above the root (lexically
 *   at the member, and again at the end with the archive's other links followed);
 * - members whose path goes through an earlier symlink (or non-directory): a write through a link;
 * - a directory replaced by something else, or anything replaced by or with a symlink;
 * - device nodes unless `allowDevices`; contiguous, sparse-type and unknown entry types;
 * - an entry whose type carries no data (directory, symlink, hardlink, fifo, device) but whose
 *   header has a size: tar-stream and `tar --list` skip it as data, `tar --extract` reads it as
 *   the next headers, a member the check would never see;
 * - limits (./unpack-limits.ts): a path component over 255 bytes, a path deeper or longer than
 *   extraction (and the removal of the workspace afterwards) can handle, and more unpacked bytes
 *   than the per-input cap (sparse files counted by their real size), all before any write.
 *
 * GNU sparse members name their real path in `GNU.sparse.name`, which GNU tar uses instead of
 * the header name: when present it is the name checked.
 */
import { StagefarmError } from "../errors.js";
import { excerpt } from "../util/excerpt.js";
import { ancestorsOf, lexicallyEscapes, memberNameProblem, normaliseMember } from "./member-path.js";
import { resolveLink, type StepBudget } from "./symlink-escape.js";
import {
  DEFAULT_MAX_UNPACKED_BYTES,
  limitProblem,
  unpackedSize,
  type UnpackLimits,
} from "./unpack-limits.js";

export interface ValidatorOptions {
  allowDevices?: boolean;
  limits?: UnpackLimits;
}

/** Entry types whose header size must be 0: they carry no data. */
const DATALESS: Readonly<Record<string, string>> = {
  directory: "directory",
  symlink: "symlink",
  link: "hardlink",
  fifo: "fifo",
  "character-device": "character device node",
  "block-device": "block device node",
};

/** What the validator reads of a tar header (as tar-stream reports it, pax records applied). */
export interface EntryHeader {
  name: string;
  /** tar-stream's type name; null for a type flag it does not know. */
  type: string | null;
  linkname: string | null;
  size: number;
  /** The member's pax records (merged with the global ones), if it has a pax header. */
  pax: Record<string, string> | null;
}

type Kind = "dir" | "file" | "symlink" | "special";

/** The name GNU tar extracts a member under: a GNU sparse member's real name, else its name. */
export function shownName(h: EntryHeader): string {
  return h.pax?.["GNU.sparse.name"] ?? h.name;
}

/** Keys a pax global header may carry: none of them changes what or where an entry is. */
const GLOBAL_PAX_ALLOWED: ReadonlySet<string> = new Set(["comment", "charset", "hdrcharset"]);

/** Path components walked to resolve one symlink, and all of an archive's (real ones need few). */
const STEPS_PER_LINK = 512;
const STEPS_PER_ARCHIVE = 4_000_000;

export class EntryValidator {
  /** Names the archive in messages: "archive /path/x.tar", "artifact <digest>". */
  readonly #label: string;
  readonly #allowDevices: boolean;
  readonly #limits: UnpackLimits;
  readonly #kinds = new Map<string, Kind>();
  readonly #links = new Map<string, string>();
  entries = 0;
  /** Bytes of regular-file content (sparse files by their real size). */
  bytes = 0;

  constructor(label: string, opts: ValidatorOptions = {}) {
    this.#label = label;
    this.#allowDevices = opts.allowDevices ?? false;
    this.#limits = opts.limits ?? {};
  }

  /** Checks one entry; `globalPax` is the pax global header in force, if any. */
  check(h: EntryHeader, globalPax: Readonly<Record<string, string>> | null): void {
    const pax = h.pax ?? {};
    const shown = shownName(h);
    if (globalPax !== null) {
      const bad = Object.keys(globalPax).filter((k) => !GLOBAL_PAX_ALLOWED.has(k));
      if (bad.length > 0)
        this.#refuse(shown, `a pax global header sets ${bad.join(", ")} for every later member`);
    }
    if (pax.path === "" || pax.linkpath === "")
      this.#refuse(shown, "its pax header has an empty path or linkpath");
    const nameProblem = memberNameProblem(h.name) ?? memberNameProblem(shown);
    if (nameProblem !== undefined) this.#refuse(shown, nameProblem);
    const member = normaliseMember(shown);
    const overLimit = limitProblem(member, this.#limits);
    if (overLimit !== undefined) this.#refuse(shown, overLimit);
    const kind = this.#kindOf(h, shown);
    const dataless = h.type === null ? undefined : DATALESS[h.type];
    if (dataless !== undefined && h.size !== 0)
      this.#refuse(
        shown,
        `it is a ${dataless} with ${h.size} bytes of data (it carries none: tar-stream would skip them, GNU tar would read them as the next member)`,
      );
    if (member === "" && kind !== "dir") this.#refuse(shown, "it would replace the extraction root itself");

    for (const dir of ancestorsOf(member)) {
      const seen = this.#kinds.get(dir);
      if (seen === undefined) this.#kinds.set(dir, "dir");
      else if (seen === "symlink") this.#refuse(shown, `it would be written through the symlink "${dir}"`);
      else if (seen !== "dir") this.#refuse(shown, `its parent "${dir}" is not a directory`);
    }
    const before = this.#kinds.get(member);
    if (
      before !== undefined &&
      before !== kind &&
      (before === "dir" || before === "symlink" || kind === "symlink")
    )
      this.#refuse(
        shown,
        `it would replace the earlier ${describeKind(before)} "${member}" with a ${describeKind(kind)}`,
      );
    if (before === "symlink" && kind === "symlink") this.#links.delete(member);

    if (h.type === "link") this.#checkHardlink(shown, h.linkname ?? "");
    if (h.type === "symlink") this.#checkSymlink(shown, member, h.linkname ?? "");
    if (h.type === "file") this.#addBytes(shown, h);
    this.#kinds.set(member, kind);
    this.entries += 1;
  }

  /** The checks that need the whole archive: relative symlinks followed through each other. */
  finish(): void {
    const budget: StepBudget = { left: STEPS_PER_ARCHIVE };
    for (const [link, target] of this.#links) {
      if (target.startsWith("/")) continue;
      const r = resolveLink(link, target, this.#links, budget, STEPS_PER_LINK);
      if (r.t === "escapes")
        this.#refuse(
          link,
          `its target "${clip(target)}" leads outside the extraction root (through the symlink "${r.via}")`,
        );
      if (r.t === "too-complex")
        this.#refuse(
          link,
          `its target "${clip(target)}" goes through too many symlinks and components to verify`,
        );
    }
  }

  #kindOf(h: EntryHeader, shown: string): Kind {
    switch (h.type) {
      case "directory":
        return "dir";
      case "file":
      case "link":
        return "file";
      case "symlink":
        return "symlink";
      case "fifo":
        return "special";
      case "character-device":
      case "block-device":
        if (!this.#allowDevices)
          this.#refuse(
            shown,
            `it is a ${h.type.replace("-", " ")} node (devices are allowed only for chroot runners)`,
          );
        return "special";
      case "contiguous-file":
        return this.#refuse(shown, "contiguous-file entries are not supported");
      default:
        return this.#refuse(shown, `it has an unsupported entry type (${h.type ?? "unknown type flag"})`);
    }
  }

  #addBytes(shown: string, h: EntryHeader): void {
    const size = unpackedSize(h.size, h.pax);
    if (size === undefined) this.#refuse(shown, "its pax header gives a malformed sparse real size");
    this.bytes += size;
    const max = this.#limits.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED_BYTES;
    if (this.bytes > max)
      this.#refuse(
        shown,
        `the archive unpacks to more than ${max} bytes, the limit per input (the agent's --max-unpacked-size)`,
      );
  }

  #checkHardlink(shown: string, linkname: string): void {
    const problem = memberNameProblem(linkname);
    if (problem !== undefined)
      this.#refuse(shown, `it is a hardlink and its target "${clip(linkname)}": ${problem}`);
    const target = normaliseMember(linkname);
    if (this.#kinds.get(target) !== "file")
      this.#refuse(
        shown,
        `it is a hardlink to "${clip(linkname)}", which is not an earlier regular file of the archive`,
      );
  }

  #checkSymlink(shown: string, member: string, target: string): void {
    if (target === "") this.#refuse(shown, "it is a symlink with an empty target");
    const problem = target.includes("\0")
      ? "contains a NUL byte"
      : tooLong(target)
        ? "is too long"
        : undefined;
    if (problem !== undefined) this.#refuse(shown, `its symlink target ${problem}`);
    if (!target.startsWith("/") && lexicallyEscapes(member, target))
      this.#refuse(shown, `it is a symlink whose target "${clip(target)}" leads outside the extraction root`);
    this.#links.set(member, target);
  }

  #refuse(entry: string, reason: string): never {
    const name = excerpt(entry, 300);
    throw new StagefarmError("unsafe_archive", `${this.#label} is unsafe: entry "${name}": ${reason}`, {
      details: { archive: this.#label, entry: name, reason },
    });
  }
}

/** Hostile names can be megabytes long and hold control characters: messages show an excerpt. */
function clip(text: string): string {
  return excerpt(text, 300);
}

/** Longer than Linux's PATH_MAX (4096 bytes, the terminating NUL included): cannot be created. */
function tooLong(path: string): boolean {
  return Buffer.byteLength(path) > 4095;
}

function describeKind(kind: Kind): string {
  return kind === "dir" ? "directory" : kind === "special" ? "special file" : kind;
}
