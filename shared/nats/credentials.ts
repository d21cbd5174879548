/**
 * NATS credentials and TLS files of a farm process. A credentials file holds one of:
 *
 *   SUAB…            an nkey user seed (what `stagefarm nats user` writes): the server's
 *                    configuration holds only the public key, and the seed never leaves the host
 *   USER:PASSWORD    a user and password of the server's configuration
 *
 * (lines starting with `#` and blank lines are ignored). A secret file (credentials, TLS key)
 * is read with `readSecretFile` (../secret-file.ts): refused, naming the file and the fix, when
 * other users may read or write it; its content never appears in an error.
 */
import { readFile } from "node:fs/promises";
import { nkeys } from "nats";
import { StagefarmError } from "../errors.js";
import { readSecretFile } from "../secret-file.js";

interface KeyPair {
  getPublicKey(): string;
  getSeed(): Uint8Array;
}
/** `nats` re-exports nkeys.js untyped (`any`): the two functions used here, typed. */
const nk = nkeys as { createUser(): KeyPair; fromSeed(seed: Uint8Array): KeyPair };

export type NatsAuth =
  { kind: "nkey"; seed: Uint8Array; publicKey: string } | { kind: "user"; user: string; pass: string };

/** TLS towards the server: CA to trust, and a client certificate for mutual TLS. */
export interface NatsTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** How a credential is named in logs and errors: the user, or the nkey's public key. */
export function describeNatsAuth(auth: NatsAuth): string {
  return auth.kind === "nkey" ? `nkey ${auth.publicKey}` : `user ${auth.user}`;
}

/** Parses the text of a credentials file (see the module comment). */
export function parseNatsCredentials(text: string, source: string): NatsAuth {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const [line] = lines;
  if (line === undefined || lines.length !== 1)
    throw new StagefarmError(
      "invalid_argument",
      `NATS credentials ${source}: expected one line, an nkey user seed (SU…) or USER:PASSWORD, got ${lines.length}`,
    );
  if (/^SU[A-Z2-7]{50,}$/.test(line)) {
    try {
      const pair = nk.fromSeed(new TextEncoder().encode(line));
      return { kind: "nkey", seed: pair.getSeed(), publicKey: pair.getPublicKey() };
    } catch {
      throw new StagefarmError("invalid_argument", `NATS credentials ${source}: not a valid nkey user seed`);
    }
  }
  const colon = line.indexOf(":");
  if (colon <= 0 || colon === line.length - 1)
    throw new StagefarmError(
      "invalid_argument",
      `NATS credentials ${source}: expected an nkey user seed (SU…) or USER:PASSWORD`,
    );
  return { kind: "user", user: line.slice(0, colon), pass: line.slice(colon + 1) };
}

/** Reads a credentials file, refusing one that other users may access. */
export async function readNatsCredentials(path: string): Promise<NatsAuth> {
  const text = (await readSecretFile(path, "NATS credentials file")).toString("utf8");
  return parseNatsCredentials(text, path);
}

/** Checks the TLS files before connecting: the key must be private, all must be readable. */
export async function checkNatsTlsFiles(tls: NatsTlsFiles): Promise<void> {
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined))
    throw new StagefarmError(
      "invalid_argument",
      "--nats-cert and --nats-key go together (a client certificate and its key, for mutual TLS)",
    );
  if (tls.keyFile !== undefined) await readSecretFile(tls.keyFile, "NATS TLS key");
  for (const [what, file] of [
    ["NATS CA file", tls.caFile],
    ["NATS TLS certificate", tls.certFile],
  ] as const)
    if (file !== undefined)
      await readFile(file).catch((err: unknown) => {
        throw new StagefarmError(
          "invalid_argument",
          `${what} ${file} cannot be read: ${StagefarmError.from(err).message}`,
          {
            cause: err,
          },
        );
      });
}

/** A fresh nkey user: its public key (for the server's configuration) and its seed (for the agent). */
export function createNkeyUser(): { publicKey: string; seed: string } {
  const pair = nk.createUser();
  return { publicKey: pair.getPublicKey(), seed: new TextDecoder().decode(pair.getSeed()) };
}
