/**
 * API tokens: `sft_` and 43 base64url characters (32 random bytes). The coordinator stores only
 * their sha256 (hex); a token is compared by its hash, in constant time. A token is a bearer
 * credential: `authorization: Bearer sft_…` (gRPC metadata or HTTP header).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const TOKEN_PREFIX = "sft_";
const TOKEN_SHAPE = /^sft_[A-Za-z0-9_-]{43}$/;

/** A new random token (shown once; only its hash is kept). */
export function generateToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Whether two hex digests are equal, in time independent of where they differ. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** What a request presented. */
export type Credential = { t: "none" } | { t: "token"; token: string } | { t: "malformed"; why: string };

export function tokenCredential(token: string): Credential {
  if (!TOKEN_SHAPE.test(token))
    return {
      t: "malformed",
      why: `malformed token (a stagefarm token is ${TOKEN_PREFIX} followed by 43 characters; stagefarm certs token makes one)`,
    };
  return { t: "token", token };
}

/** Reads an `authorization` value: absent, `Bearer <token>`, or anything else (malformed). */
export function parseAuthorization(value: string | undefined): Credential {
  if (value === undefined || value === "") return { t: "none" };
  const m = /^Bearer +(\S+) *$/i.exec(value);
  if (m === null) return { t: "malformed", why: "malformed authorization: expected `Bearer <token>`" };
  return tokenCredential(m[1] ?? "");
}
