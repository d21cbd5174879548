/**
 * Credentials for the security tests: a farm's certificates made by `certsInit` (the code behind
 * `stagefarm certs init`), a second farm's (a CA nobody trusts, a client certificate of the wrong
 * CA), a client certificate that has expired (openssl, `-days -1`), tokens of every role with
 * the auth file text naming them, and a pino logger whose lines the test can read.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { execa } from "execa";
import { pino } from "pino";
import { CERT_FILES, certsInit } from "../../cli/commands/certs.js";
import { generateToken, sha256Hex } from "../../coordinator/auth/testing.js";
import type { Logger } from "../../shared/log.js";

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

export interface TlsFixtures {
  dir: string;
  ca: Buffer;
  server: KeyPair;
  client: KeyPair;
  /** The CA of another farm. */
  otherCa: Buffer;
  /** A client certificate signed by the other farm's CA. */
  strangerClient: KeyPair;
  /** A client certificate of this farm's CA whose validity ended. */
  expiredClient: KeyPair;
}

async function pair(dir: string, name: keyof typeof CERT_FILES): Promise<KeyPair> {
  const f = CERT_FILES[name];
  return { cert: await readFile(join(dir, f.cert)), key: await readFile(join(dir, f.key)) };
}

/** Makes both farms' certificates and the expired one under `dir`. */
export async function makeTlsFixtures(dir: string): Promise<TlsFixtures> {
  const farm = join(dir, "farm");
  const other = join(dir, "other");
  await Promise.all([certsInit(farm), certsInit(other)]);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await execa(
    "openssl",
    ["req", "-new", ...ec, "-keyout", "expired.key", "-out", "expired.csr", "-subj", "/CN=old"],
    {
      cwd: farm,
    },
  );
  await writeFile(join(farm, "expired.ext"), "extendedKeyUsage=clientAuth\n");
  // prettier-ignore
  await execa("openssl", [
    "x509", "-req", "-in", "expired.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "0x1234",
    "-days", "-1", "-extfile", "expired.ext", "-out", "expired.crt",
  ], { cwd: farm });
  return {
    dir,
    ca: await readFile(join(farm, CERT_FILES.ca.cert)),
    server: await pair(farm, "server"),
    client: await pair(farm, "client"),
    otherCa: await readFile(join(other, CERT_FILES.ca.cert)),
    strangerClient: await pair(other, "client"),
    expiredClient: {
      cert: await readFile(join(farm, "expired.crt")),
      key: await readFile(join(farm, "expired.key")),
    },
  };
}

export interface TokenFixtures {
  viewer: string;
  submitter: string;
  admin: string;
  /** In the file, expired. */
  expired: string;
  /** Well formed, not in the file. */
  unknown: string;
}

export function makeTokens(): TokenFixtures {
  return {
    viewer: generateToken(),
    submitter: generateToken(),
    admin: generateToken(),
    expired: generateToken(),
    unknown: generateToken(),
  };
}

/** Every token of `t`, to check that none reached a log. */
export function allTokens(t: TokenFixtures): string[] {
  return [t.viewer, t.submitter, t.admin, t.expired, t.unknown];
}

/** The auth file naming `t` (YAML), with `extra` lines appended. */
export function authFileText(t: TokenFixtures, extra = ""): string {
  return `tokens:
  - { name: val, role: viewer, sha256: ${sha256Hex(t.viewer)} }
  - { name: sam, role: submitter, sha256: ${sha256Hex(t.submitter)} }
  - { name: ada, role: admin, sha256: ${sha256Hex(t.admin)} }
  - { name: old, role: admin, sha256: ${sha256Hex(t.expired)}, expires: 2020-01-01 }
${extra}`;
}

/** Writes the auth file with mode 0600 under `dir`; returns its path. */
export async function writeAuthFile(dir: string, text: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, "auth.yaml");
  await writeFile(file, text, { mode: 0o600 });
  return file;
}

/** A debug-level pino logger; its records land in `lines`. */
export function captureLogger(lines: Array<Record<string, unknown>>): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n"))
        if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return pino({ level: "debug" }, sink);
}
