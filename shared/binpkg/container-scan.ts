/**
 * One streaming pass over a gpkg container (an uncompressed tar): checks its shape (every
 * member a regular file `<basename>/<name>`, one basename, no duplicates), digests every member
 * for the Manifest check and the whole file for the index, and keeps the bytes of the few small
 * members asked for (metadata archive, Manifest). Large members (the image) are only hashed.
 */
import { createReadStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract, type Header } from "tar-stream";
import { StagefarmError } from "../errors.js";
import { corrupt } from "./binpkg-error.js";
import { FileHasher, MemberHasher, type FileDigests, type MemberDigests } from "./digests.js";
import { errnoOf } from "../util/fs.js";

/** The header fields of a member worth keeping when it is copied into another container. */
export interface MemberHeader {
  mode: number;
  mtime: Date;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
}

export interface ScannedMember {
  /** Name below the basename. */
  name: string;
  header: MemberHeader;
  digests: MemberDigests;
  /** The member's bytes, when the capture rule asked for them. */
  data?: Buffer;
}

export interface ContainerScan {
  basename: string;
  members: ScannedMember[];
  file: FileDigests;
}

export interface ScanOptions {
  /** Largest size in bytes of a member whose bytes are kept; undefined: only hash it. */
  capture(name: string): number | undefined;
  signal?: AbortSignal;
}

export async function scanContainer(file: string, opts: ScanOptions): Promise<ContainerScan> {
  const source = createReadStream(file, { highWaterMark: 1 << 20 });
  const fileHasher = new FileHasher();
  const extract = tarExtract();
  const members: ScannedMember[] = [];
  let basename: string | undefined;

  const feeding = pipeline(source, fileHasher, extract, { signal: opts.signal });
  const parsing = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const name = memberName(file, h, basename);
      basename = name.basename;
      if (members.some((m) => m.name === name.member))
        throw corrupt(file, `member ${h.name} appears twice in the container`);
      const limit = opts.capture(name.member);
      if (limit !== undefined && (h.size ?? 0) > limit)
        throw corrupt(file, `member ${name.member} is ${h.size ?? 0} bytes, more than the ${limit} allowed`);
      const hasher = new MemberHasher();
      const chunks: Buffer[] = [];
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        hasher.update(chunk);
        if (limit !== undefined) chunks.push(chunk);
      }
      members.push({
        name: name.member,
        header: headerOf(h),
        digests: hasher.digest(),
        ...(limit !== undefined ? { data: Buffer.concat(chunks) } : {}),
      });
    }
  })();
  const [fed, parsed] = await Promise.allSettled([feeding, parsing]);
  if (parsed.status === "rejected") throw tarFailure(file, parsed.reason, opts.signal);
  if (fed.status === "rejected") throw tarFailure(file, fed.reason, opts.signal);
  const digests = fileHasher.digests();
  if (digests.size === 0) throw corrupt(file, "the file is empty");
  if (basename === undefined) throw corrupt(file, "the tar archive holds no members: not a gpkg");
  return { basename, members, file: digests };
}

/** Splits and checks a container path: exactly `<basename>/<member>`, one basename throughout. */
function memberName(
  file: string,
  h: Header,
  basename: string | undefined,
): { basename: string; member: string } {
  const type = h.type ?? "file";
  if (type !== "file" && type !== "contiguous-file")
    throw corrupt(file, `member ${h.name} is a ${type}; a gpkg holds regular files only`);
  const parts = h.name.split("/");
  const [base, member] = parts;
  if (parts.length !== 2 || base === undefined || member === undefined)
    throw corrupt(file, `member ${h.name} is not <basename>/<file>: gpkg structure mismatch`);
  if (base === "" || base === "." || base === ".." || member === "" || member === "." || member === "..")
    throw corrupt(file, `member ${h.name} has an invalid path`);
  if (basename !== undefined && base !== basename)
    throw corrupt(file, `member ${h.name} is outside the package directory ${basename}/`);
  return { basename: base, member };
}

function headerOf(h: Header): MemberHeader {
  return {
    mode: h.mode ?? 0o644,
    mtime: h.mtime ?? new Date(0),
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
    uname: h.uname ?? "",
    gname: h.gname ?? "",
  };
}

function tarFailure(file: string, err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted || !(err instanceof Error) || err instanceof StagefarmError) return err;
  if (errnoOf(err) === "ENOENT") return err;
  if (/unexpected end of data/i.test(err.message))
    return corrupt(file, "the file is truncated: it ends in the middle of a tar member", err);
  if (/invalid tar header|unknown format/i.test(err.message))
    return corrupt(file, `not a tar archive, so not a gpkg (${err.message})`, err);
  return corrupt(file, `cannot be read as a tar archive: ${err.message}`, err);
}
