/**
 * A `.DIGESTS` file in Gentoo's current format, as catalyst writes it (catalyst
 * catalyst/base/genbase.py `gen_digest_file`/`generate_hash`, digest_format "linux", at
 * gentoo/catalyst df01e21b599248634796fd7edc5dde183924129b; releng's catalyst.conf sets
 * `digests = ["blake2b", "sha512"]`): for the released file, then for its `.CONTENTS.gz`, one
 * section per algorithm:
 *
 *   # BLAKE2B HASH
 *   <hex>  <file name>
 *   # SHA512 HASH
 *   <hex>  <file name>
 *
 * The hex lines are what `b2sum` and `sha512sum` print (BLAKE2b-512), so `b2sum -c` and
 * `sha512sum -c` check them after a `grep -A1 '^# BLAKE2B'` of the section.
 */
import { createHash, type Hash } from "node:crypto";

export const DIGEST_ALGORITHMS = [
  { name: "BLAKE2B", node: "blake2b512" },
  { name: "SHA512", node: "sha512" },
] as const;

/** Hashes one file's bytes in every DIGESTS algorithm as they stream past. */
export class DigestsHasher {
  private readonly hashes: Hash[] = DIGEST_ALGORITHMS.map((a) => createHash(a.node));

  update(chunk: Uint8Array): void {
    for (const h of this.hashes) h.update(chunk);
  }

  /** The file's sections of a DIGESTS file. */
  sections(fileName: string): string {
    return DIGEST_ALGORITHMS.map(
      (a, i) => `# ${a.name} HASH\n${this.hashes[i]?.digest("hex") ?? ""}  ${fileName}\n`,
    ).join("");
  }
}

/** The sections of a file held in memory (the CONTENTS.gz). */
export function digestSections(bytes: Uint8Array, fileName: string): string {
  const h = new DigestsHasher();
  h.update(bytes);
  return h.sections(fileName);
}
