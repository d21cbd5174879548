/**
 * Hashes one regular file's content as it streams past: the sha256 of the bytes and, when a
 * content noise rule (./noise.ts) matches the file, the sha256 with the rule's fields masked.
 * Holds at most a rule's header (16 bytes), or a whole small file for "whole" rules and for the
 * vdb metadata the package grouping reads (capped; a larger file is hashed, not kept).
 */
import { createHash, type Hash } from "node:crypto";
import { CONTENT_RULES, type ContentRule, type NoiseId } from "./noise.js";

export interface HashedContent {
  size: number;
  sha256: string;
  normalized?: { rule: NoiseId; sha256: string };
  /** The content, when capture was asked for and it fitted. */
  captured?: Buffer;
}

const HEAD_BYTES = 16;

export class ContentHasher {
  readonly #raw: Hash = createHash("sha256");
  readonly #whole: ContentRule | undefined;
  readonly #heads: readonly ContentRule[];
  readonly #keepBytes: number;
  readonly #capture: number;
  #kept: Buffer[] | undefined = [];
  #keptLen = 0;
  #head: Buffer[] = [];
  #headLen = 0;
  #norm: { rule: ContentRule; hash: Hash } | undefined;
  #decided = false;
  #size = 0;

  /** `captureBytes`: keep the content when it is at most this long (0: never). */
  constructor(path: string, captureBytes = 0) {
    const candidates = CONTENT_RULES.filter((r) => r.candidate(path));
    this.#whole = candidates.find((r) => r.reads.t === "whole");
    this.#heads = candidates.filter((r) => r.reads.t === "head");
    const wholeMax = this.#whole?.reads.t === "whole" ? this.#whole.reads.maxBytes : 0;
    this.#capture = captureBytes;
    this.#keepBytes = Math.max(captureBytes, wholeMax);
    if (this.#keepBytes === 0) this.#kept = undefined;
  }

  update(chunk: Buffer): void {
    this.#raw.update(chunk);
    this.#size += chunk.length;
    if (this.#kept !== undefined) {
      if (this.#keptLen + chunk.length > this.#keepBytes) this.#kept = undefined;
      else {
        this.#kept.push(chunk);
        this.#keptLen += chunk.length;
      }
    }
    if (this.#decided) {
      this.#norm?.hash.update(chunk);
      return;
    }
    if (this.#heads.length === 0) {
      this.#decided = true;
      return;
    }
    this.#head.push(chunk);
    this.#headLen += chunk.length;
    if (this.#headLen >= HEAD_BYTES) this.#decideHead();
  }

  finish(): HashedContent {
    if (!this.#decided) this.#decideHead();
    const out: HashedContent = { size: this.#size, sha256: this.#raw.digest("hex") };
    const kept = this.#kept === undefined ? undefined : Buffer.concat(this.#kept);
    if (this.#whole !== undefined && kept !== undefined) {
      const masked = this.#whole.mask(kept);
      if (masked !== undefined)
        out.normalized = { rule: this.#whole.id, sha256: createHash("sha256").update(masked).digest("hex") };
    } else if (this.#norm !== undefined)
      out.normalized = { rule: this.#norm.rule.id, sha256: this.#norm.hash.digest("hex") };
    if (kept !== undefined && kept.length <= this.#capture) out.captured = kept;
    return out;
  }

  /** The first bytes are in: pick the header rule they match, feed its hash the masked head. */
  #decideHead(): void {
    this.#decided = true;
    const all = Buffer.concat(this.#head);
    this.#head = [];
    for (const rule of this.#heads) {
      if (rule.reads.t !== "head") continue;
      const masked = rule.mask(all.subarray(0, rule.reads.bytes));
      if (masked === undefined) continue;
      const hash = createHash("sha256").update(masked).update(all.subarray(rule.reads.bytes));
      this.#norm = { rule, hash };
      return;
    }
  }
}
