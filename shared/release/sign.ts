/**
 * Detached, ASCII-armoured GPG signatures of released files (`<file>.asc`, as Gentoo's mirrors
 * carry next to each stage3 and ISO): `gpg --batch --armor --detach-sign --local-user KEY`, the
 * bytes on stdin, the signature on stdout. The key is the writer's configuration (a key id or
 * fingerprint, checked to be one), the keyring its GNUPGHOME; neither ever comes from a request
 * path, and the key id reaches gpg as one argument, never through a shell.
 */
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { execa } from "execa";
import { StagefarmError } from "../errors.js";
import { quoted } from "../util/excerpt.js";

export interface SigningKey {
  /** A key id, fingerprint or email address gpg's --local-user accepts. */
  keyId: string;
  /** The keyring's directory (GNUPGHOME); absent: gpg's default. */
  gnupgHome?: string;
}

const KEY_RE = /^(?:(?:0x)?[0-9A-Fa-f]{8,40}|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+)$/;

export function assertSigningKey(keyId: string): string {
  if (!KEY_RE.test(keyId))
    throw new StagefarmError(
      "invalid_argument",
      `invalid signing key ${quoted(keyId)}: give a key id, a fingerprint or an email address`,
    );
  return keyId;
}

/** The armoured detached signature of `data`. */
export async function detachSign(
  key: SigningKey,
  data: Readable | Buffer,
  signal?: AbortSignal,
): Promise<Buffer> {
  const args = ["--batch", "--yes", "--armor", "--detach-sign", "--local-user", assertSigningKey(key.keyId)];
  const env = key.gnupgHome === undefined ? {} : { GNUPGHOME: key.gnupgHome };
  const cancel = signal === undefined ? {} : { cancelSignal: signal };
  try {
    if (Buffer.isBuffer(data)) {
      const r = await execa("gpg", args, { input: data, env, ...cancel, encoding: "buffer" });
      return Buffer.from(r.stdout);
    }
    const sub = execa("gpg", args, { stdin: "pipe", env, ...cancel, encoding: "buffer" });
    const [, r] = await Promise.all([
      pipeline(data, sub.stdin).catch((err: unknown) => {
        sub.kill();
        throw err;
      }),
      sub,
    ]);
    return Buffer.from(r.stdout);
  } catch (err: unknown) {
    if (!Buffer.isBuffer(data)) data.destroy();
    if (err instanceof StagefarmError) throw err;
    const stderr = (err as { stderr?: unknown }).stderr;
    const why = stderr instanceof Uint8Array ? Buffer.from(stderr).toString("utf8") : String(stderr ?? err);
    throw new StagefarmError(
      "invalid_argument",
      `gpg could not sign with ${quoted(key.keyId)}: ${why.trim().slice(0, 400)}`,
      {
        cause: err,
      },
    );
  }
}
