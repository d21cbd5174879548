/**
 * Compression of binpkg members. A gpkg member's compression is named by its suffix
 * (`metadata.tar.zst`), as portage names it; an xpak tarball's by its magic bytes. Members are
 * (de)compressed in memory by the system tools (gzip by node's zlib); only the small metadata
 * member ever is, the image never.
 */
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import { execa } from "execa";
import { StagefarmError } from "../errors.js";
import type { BinpkgCompression } from "./types.js";
import { errnoOf } from "../util/fs.js";

/**
 * The streaming decompressor of each compression, as portage runs it (`_compressors` in
 * portage's compression_probe.py: `gzip -d`, `zstd -d --long=31`, …), writing stdout from
 * stdin; undefined for "none".
 */
export function decompressorFor(
  compression: BinpkgCompression,
): { file: string; args: string[] } | undefined {
  if (compression === "none") return undefined;
  if (compression === "gz") return { file: "gzip", args: ["-q", "-d", "-c"] };
  const tool = TOOLS[compression];
  return { file: tool.file, args: tool.d };
}

const SUFFIXES: ReadonlyArray<readonly [BinpkgCompression, string]> = [
  ["zst", ".zst"],
  ["xz", ".xz"],
  ["bz2", ".bz2"],
  ["gz", ".gz"],
  ["lz4", ".lz4"],
  ["lz", ".lz"],
  ["lzo", ".lzo"],
];

/** `compress`/`decompress` arguments of each tool, both writing stdout from stdin. */
const TOOLS: Record<Exclude<BinpkgCompression, "none" | "gz">, { file: string; c: string[]; d: string[] }> = {
  // --long=31: portage decompresses zstd with it, for packages written with a large window.
  zst: { file: "zstd", c: ["-q", "-c"], d: ["-q", "-d", "-c", "--long=31"] },
  xz: { file: "xz", c: ["-q", "-c"], d: ["-q", "-d", "-c"] },
  bz2: { file: "bzip2", c: ["-q", "-c"], d: ["-q", "-d", "-c"] },
  lz4: { file: "lz4", c: ["-q", "-c"], d: ["-q", "-d", "-c"] },
  lz: { file: "lzip", c: ["-q", "-c"], d: ["-q", "-d", "-c"] },
  lzo: { file: "lzop", c: ["-q", "-c"], d: ["-q", "-d", "-c"] },
};

/**
 * Splits a member name into its stem and compression: "image.tar.zst" → ["image", "zst"],
 * "metadata.tar" → ["metadata", "none"]; undefined when it is no `<stem>.tar[.<ext>]`.
 */
export function splitArchiveName(name: string): { stem: string; compression: BinpkgCompression } | undefined {
  if (name.endsWith(".tar")) return { stem: name.slice(0, -4), compression: "none" };
  for (const [compression, ext] of SUFFIXES) {
    const tail = `.tar${ext}`;
    if (name.endsWith(tail)) return { stem: name.slice(0, -tail.length), compression };
  }
  return undefined;
}

/** "metadata" + "zst" → "metadata.tar.zst". */
export function archiveName(stem: string, compression: BinpkgCompression): string {
  const ext = SUFFIXES.find(([c]) => c === compression)?.[1] ?? "";
  return `${stem}.tar${ext}`;
}

const MAGIC: ReadonlyArray<readonly [BinpkgCompression, readonly number[]]> = [
  ["bz2", [0x42, 0x5a, 0x68]], // "BZh"
  ["gz", [0x1f, 0x8b]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["zst", [0x28, 0xb5, 0x2f, 0xfd]],
  ["lz4", [0x04, 0x22, 0x4d, 0x18]],
  ["lz", [0x4c, 0x5a, 0x49, 0x50]], // "LZIP"
  ["lzo", [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]],
];

/** The compression whose magic `head` starts with; "none" otherwise. */
export function compressionFromMagic(head: Uint8Array): BinpkgCompression {
  for (const [kind, magic] of MAGIC) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return kind;
  }
  return "none";
}

export interface CodecOptions {
  /** The largest output accepted, in bytes. */
  maxOutputBytes: number;
  signal?: AbortSignal;
}

/** Decompresses `data`; rejects `corrupt_artifact` when the tool refuses it. */
export async function decompressBuffer(
  data: Uint8Array,
  compression: BinpkgCompression,
  opts: CodecOptions,
): Promise<Buffer> {
  return runCodec(data, compression, "d", opts);
}

export async function compressBuffer(
  data: Uint8Array,
  compression: BinpkgCompression,
  opts: CodecOptions,
): Promise<Buffer> {
  return runCodec(data, compression, "c", opts);
}

async function runCodec(
  data: Uint8Array,
  compression: BinpkgCompression,
  mode: "c" | "d",
  opts: CodecOptions,
): Promise<Buffer> {
  const verb = mode === "c" ? "compress" : "decompress";
  if (compression === "none") return Buffer.from(data);
  if (compression === "gz") {
    try {
      if (mode === "c") return await promisify(gzip)(data);
      return await promisify(gunzip)(data, { maxOutputLength: opts.maxOutputBytes });
    } catch (err: unknown) {
      throw new StagefarmError("corrupt_artifact", `cannot ${verb} gzip data: ${message(err)}`, {
        cause: err,
      });
    }
  }
  const tool = TOOLS[compression];
  const result = await execa(tool.file, mode === "c" ? tool.c : tool.d, {
    input: data,
    encoding: "buffer",
    maxBuffer: { stdout: opts.maxOutputBytes, stderr: 64 * 1024 },
    stripFinalNewline: false,
    cancelSignal: opts.signal,
    reject: false,
    env: { LC_ALL: "C" },
  });
  if (result.isCanceled)
    throw new StagefarmError("cancelled", `${tool.file} was cancelled`, { cause: opts.signal?.reason });
  if (errnoOf(result.cause) === "ENOENT")
    throw new StagefarmError("internal", `cannot ${verb} ${compression} data: ${tool.file} is not installed`);
  if (result.isMaxBuffer)
    throw new StagefarmError(
      "corrupt_artifact",
      `${tool.file} output exceeds ${opts.maxOutputBytes} bytes: the member is too large`,
    );
  if (result.failed) {
    const stderr = Buffer.from(result.stderr).toString("utf8").trim();
    throw new StagefarmError(
      "corrupt_artifact",
      `${tool.file} cannot ${verb} the data (${(result.shortMessage ?? "").split("\n")[0] ?? ""})${stderr ? `: ${stderr}` : ""}`,
    );
  }
  return Buffer.from(result.stdout);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
