/**
 * Leaf certificates from the farm CA of `stagefarm certs init` (a directory holding `ca.crt` and
 * `ca.key`), made with `openssl` (no crypto of our own):
 *
 * - `issueLeaf`: a new key and certificate, `<name>.key` (0600) and `<name>.crt` (0644), for an
 *   agent (`agent-<id>`: clientAuth, for NATS with `verify: true`) or a server on another host
 *   (`<name>`: serverAuth and clientAuth, SANs from --hosts, e.g. NATS on its own machine);
 *   an existing file is never replaced.
 * - `renewLeaf`: a new certificate for an existing key, same subject and extensions (SANs, key
 *   usage), new serial and validity; the old certificate is replaced atomically (rename).
 */
import { randomBytes } from "node:crypto";
import { chmod, readdir, rename, rm, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { StagefarmError } from "../shared/errors.js";
import { exists } from "../shared/util/fs.js";

export const CA_CERT = "ca.crt";
export const CA_KEY = "ca.key";

export interface OpensslOptions {
  /** The openssl executable (default "openssl"). */
  openssl?: string;
  signal?: AbortSignal;
}

/** Runs openssl in `dir`; a failure says which command and what openssl printed. */
export async function openssl(dir: string, args: string[], opts: OpensslOptions = {}): Promise<string> {
  try {
    // Loaded when openssl runs: start-up loads registrations only (cli/main.ts).
    const { execa } = await import("execa");
    const r = await execa(opts.openssl ?? "openssl", args, {
      cwd: dir,
      ...(opts.signal === undefined ? {} : { cancelSignal: opts.signal }),
    });
    return r.stdout;
  } catch (err: unknown) {
    const e = err as { stderr?: unknown; shortMessage?: unknown };
    const why =
      typeof e.stderr === "string" && e.stderr.trim() !== "" ? e.stderr.trim() : String(e.shortMessage);
    throw new StagefarmError("internal", `openssl ${args[0] ?? ""} failed: ${why}`, { cause: err });
  }
}

/** A host name (or `*.` wildcard) or an IP address for a SAN; anything else is refused. */
export function checkHost(h: string): string {
  if (isIP(h) !== 0 || /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/.test(h))
    return h;
  throw new StagefarmError("invalid_argument", `--hosts: "${h}" is neither a host name nor an IP address`);
}

/** The subjectAltName value: localhost and the loopback addresses, then `hosts`. */
export function sanList(hosts: readonly string[]): string {
  const all = [...new Set(["localhost", "127.0.0.1", "::1", ...hosts.map(checkHost)])];
  return all.map((h) => (isIP(h) !== 0 ? `IP:${h}` : `DNS:${h}`)).join(",");
}

async function requireCa(dir: string): Promise<void> {
  for (const f of [CA_CERT, CA_KEY])
    if (!(await exists(join(dir, f))))
      throw new StagefarmError(
        "not_found",
        `${join(dir, f)} is missing: give the directory of stagefarm certs init (the CA key is needed to sign)`,
      );
}

export interface LeafRequest {
  /** File name stem: `<name>.crt`, `<name>.key`. */
  name: string;
  /** The certificate's common name. */
  cn: string;
  /** openssl extension lines besides basicConstraints and keyUsage (EKU, SANs). */
  ext: string;
  days: number;
}

function checkDays(days: number): void {
  if (!Number.isInteger(days) || days < 1)
    throw new StagefarmError("invalid_argument", "--days must be a positive number of days");
}

/** Makes `<name>.key` and `<name>.crt` in `dir`, signed by the CA there; returns their paths. */
export async function issueLeaf(dir: string, req: LeafRequest, opts: OpensslOptions = {}): Promise<string[]> {
  checkDays(req.days);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(req.name))
    throw new StagefarmError("invalid_argument", `certificate name "${req.name}": letters, digits, _ . -`);
  await requireCa(dir);
  const cert = `${req.name}.crt`;
  const key = `${req.name}.key`;
  for (const f of [cert, key])
    if (await exists(join(dir, f)))
      throw new StagefarmError(
        "invalid_argument",
        `${join(dir, f)} exists: a key is never replaced (use stagefarm certs renew for a new certificate)`,
      );
  const csr = `${req.name}.csr`;
  const ext = `${req.name}.ext`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await writeFile(
    join(dir, ext),
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n${req.ext}`,
  );
  try {
    // prettier-ignore
    await openssl(dir, ["req", "-new", ...ec, "-keyout", key, "-out", csr, "-subj", `/CN=${req.cn}`], opts);
    await chmod(join(dir, key), 0o600);
    // prettier-ignore
    await openssl(dir, [
      "x509", "-req", "-in", csr, "-CA", CA_CERT, "-CAkey", CA_KEY,
      "-set_serial", `0x${randomBytes(16).toString("hex")}`,
      "-days", String(req.days), "-sha256", "-extfile", ext, "-out", cert,
    ], opts);
    await chmod(join(dir, cert), 0o644);
  } finally {
    await rm(join(dir, csr), { force: true });
    await rm(join(dir, ext), { force: true });
  }
  return [join(dir, key), join(dir, cert)];
}

/** A new certificate for `<name>.key` with the subject and extensions of `<name>.crt`. */
export async function renewLeaf(
  dir: string,
  name: string,
  days: number,
  opts: OpensslOptions = {},
): Promise<string> {
  checkDays(days);
  await requireCa(dir);
  const cert = `${name}.crt`;
  const key = `${name}.key`;
  if (!(await exists(join(dir, key))))
    throw new StagefarmError(
      "not_found",
      `${join(dir, key)} is missing: cannot renew ${cert} without its key`,
    );
  const csr = `${name}.renew.csr`;
  const next = `${name}.crt.new`;
  try {
    // prettier-ignore
    await openssl(dir, ["x509", "-x509toreq", "-copy_extensions", "copy", "-in", cert, "-signkey", key, "-out", csr], opts);
    // prettier-ignore
    await openssl(dir, [
      "x509", "-req", "-in", csr, "-CA", CA_CERT, "-CAkey", CA_KEY,
      "-set_serial", `0x${randomBytes(16).toString("hex")}`,
      "-days", String(days), "-sha256", "-copy_extensions", "copyall", "-out", next,
    ], opts);
    await chmod(join(dir, next), 0o644);
    await rename(join(dir, next), join(dir, cert));
  } finally {
    await rm(join(dir, csr), { force: true });
    await rm(join(dir, next), { force: true });
  }
  return join(dir, cert);
}

/** The leaf certificates in `dir` that have their key beside them (every `X.crt` with `X.key` but the CA). */
export async function leavesIn(dir: string): Promise<string[]> {
  const names = new Set(await readdir(dir));
  return [...names]
    .filter((f) => f.endsWith(".crt") && f !== CA_CERT && names.has(`${f.slice(0, -4)}.key`))
    .map((f) => f.slice(0, -4))
    .sort();
}
