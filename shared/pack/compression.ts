/**
 * Archive compression, detected from the first bytes of the file (never from its name):
 * zstd, xz, bzip2, gzip, or none (a plain tar). Each maps to the external decompressor the
 * validation pass runs and to the GNU tar option the extraction uses.
 */
import { open } from "node:fs/promises";
import { StagefarmError } from "../errors.js";

export type Compression = "zstd" | "xz" | "bzip2" | "gzip" | "none";

const MAGIC: ReadonlyArray<readonly [Compression, readonly number[]]> = [
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["bzip2", [0x42, 0x5a, 0x68]], // "BZh"
  ["gzip", [0x1f, 0x8b]],
];

/**
 * Reads the magic bytes of `file`. Throws `not_found` when it is absent, `unsafe_archive` when
 * empty; `label` names it in messages.
 */
export async function detectCompression(file: string, label = `archive ${file}`): Promise<Compression> {
  const head = Buffer.alloc(8);
  let bytesRead: number;
  try {
    const fh = await open(file, "r");
    try {
      ({ bytesRead } = await fh.read(head, 0, head.length, 0));
    } finally {
      await fh.close();
    }
  } catch (err: unknown) {
    throw StagefarmError.wrap(err, `cannot read ${label}`);
  }
  if (bytesRead === 0)
    throw new StagefarmError("unsafe_archive", `${label} is empty: not a tar archive`, {
      details: { archive: label },
    });
  for (const [kind, magic] of MAGIC) {
    if (bytesRead >= magic.length && magic.every((b, i) => head[i] === b)) return kind;
  }
  return "none";
}

/** The program and arguments that write the decompressed `file` to stdout (none for a plain tar). */
export function decompressCommand(
  kind: Compression,
  file: string,
): { file: string; args: string[] } | undefined {
  switch (kind) {
    case "zstd":
    case "xz":
    case "bzip2":
    case "gzip":
      return { file: kind, args: ["-d", "-c", "-q", "--", file] };
    case "none":
      return undefined;
  }
}

/** GNU tar's option for the same decompression during extraction. */
export function tarDecompressOption(kind: Compression): string[] {
  return kind === "none" ? [] : [`--${kind}`];
}
