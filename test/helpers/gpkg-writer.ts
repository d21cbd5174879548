/**
 * Real portage binary packages for tests, written independently of shared/binpkg: GNU tar
 * (ustar, numeric owners), the system compressors and node's hashes.
 *
 * - `writeGpkg` writes a GLEP 78 `<basename>.gpkg.tar`: `<basename>/gpkg-1` (empty),
 *   `metadata.tar.<ext>` (a `metadata/` directory of KEY files, portage's usual keys filled in,
 *   plus a binary `environment.bz2`), `image.tar.<ext>` (`image/<path>` files), optional fake
 *   `.sig` members with a clear-signed Manifest, and the `Manifest` (`DATA <file> <size> BLAKE2B
 *   <hex> SHA512 <hex>`). Hooks let a test damage the metadata or image member or the Manifest, or put the
 *   members out of order.
 * - `writeXpak` writes a legacy package: a compressed tar of the files plus an XPAK segment.
 * - `memberDataOffset` finds where a member's bytes start inside a container (to damage them).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { appendFile, mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { execa } from "execa";

export type TestCompression = "zst" | "xz" | "bz2" | "gz" | "lz4" | "none";

export interface PackageOptions {
  category: string;
  pf: string;
  buildId?: number;
  compression?: TestCompression;
  /** Added to (or replacing) the default metadata keys; values are stored with a trailing newline. */
  metadata?: Record<string, string>;
  /** Default keys to leave out (e.g. "CATEGORY"). */
  omitKeys?: string[];
  /** Image files: path below the root → content. */
  files?: Record<string, string>;
  /** Image files of random bytes: path → size (written by `head -c`, never held in memory). */
  randomFiles?: Record<string, number>;
  buildTime?: number;
}

export interface GpkgOptions extends PackageOptions {
  /** Adds `.sig` members (fake OpenPGP armor) and wraps the Manifest in a clear-signed message. */
  signed?: boolean;
  /** Container member order: GLEP 78's, or reversed (Manifest first). */
  order?: "glep" | "reversed";
  /** Replaces the compressed metadata member before the Manifest is computed. */
  metadataMember?: (bytes: Buffer) => Buffer;
  /** Replaces the compressed image member before the Manifest is computed (so it matches). */
  imageMember?: (bytes: Buffer) => Buffer | Promise<Buffer>;
  /** Edits the Manifest text after it was computed. */
  manifest?: (text: string) => string;
  /** The container's file name (default `<basename>.gpkg.tar`). */
  fileName?: string;
}

const SUFFIX: Record<TestCompression, string> = {
  zst: ".zst",
  xz: ".xz",
  bz2: ".bz2",
  gz: ".gz",
  lz4: ".lz4",
  none: "",
};

const COMPRESSOR: Record<Exclude<TestCompression, "none">, string[]> = {
  zst: ["zstd", "-q", "--rm"],
  xz: ["xz", "-q"],
  bz2: ["bzip2", "-q"],
  gz: ["gzip", "-n", "-q"],
  lz4: ["lz4", "-q", "-m", "--rm"],
};

const TAR_FLAGS = ["--format=ustar", "--owner=0", "--group=0", "--numeric-owner", "--sort=name"];

export const DEFAULT_BUILD_TIME = 1_700_000_000;

/** Portage's usual metadata keys for a package built here. */
export function defaultMetadata(opts: PackageOptions, imageBytes: number): Record<string, string> {
  const m: Record<string, string> = {
    CATEGORY: opts.category,
    PF: opts.pf,
    SLOT: "0",
    EAPI: "8",
    KEYWORDS: "amd64",
    IUSE: "",
    USE: "abi_x86_64 amd64 elibc_glibc kernel_linux",
    LICENSE: "GPL-2",
    DEPEND: "",
    RDEPEND: "",
    BDEPEND: "",
    PDEPEND: "",
    IDEPEND: "",
    DEFINED_PHASES: "install",
    repository: "gentoo",
    DESCRIPTION: `Test package ${opts.pf}`,
    CHOST: "x86_64-pc-linux-gnu",
    BUILD_TIME: String(opts.buildTime ?? DEFAULT_BUILD_TIME),
    SIZE: String(imageBytes),
  };
  if (opts.buildId !== undefined) m.BUILD_ID = String(opts.buildId);
  for (const k of opts.omitKeys ?? []) delete m[k];
  return { ...m, ...opts.metadata };
}

/** Writes the image files under `root`; returns their total size. */
async function writeImage(root: string, opts: PackageOptions): Promise<number> {
  await mkdir(root, { recursive: true });
  let total = 0;
  for (const [path, content] of Object.entries(opts.files ?? { "usr/share/doc/README": "hello\n" })) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
    total += Buffer.byteLength(content);
  }
  for (const [path, size] of Object.entries(opts.randomFiles ?? {})) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await execa("sh", ["-c", `head -c ${size} /dev/urandom > "$1"`, "sh", join(root, path)]);
    total += size;
  }
  return total;
}

async function writeMetadataDir(dir: string, metadata: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [k, v] of Object.entries(metadata)) await writeFile(join(dir, k), `${v}\n`);
  const env = await execa("bzip2", ["-c"], { input: 'declare -x TESTVAR="1"\n', encoding: "buffer" });
  await writeFile(join(dir, "environment.bz2"), env.stdout);
}

/** Compresses `file` in place; returns the new path. */
async function compress(file: string, compression: TestCompression): Promise<string> {
  if (compression === "none") return file;
  const [tool, ...args] = COMPRESSOR[compression];
  await execa(tool ?? "", [...args, file]); // each removes its input
  return file + SUFFIX[compression];
}

async function hashFile(path: string, algo: string): Promise<string> {
  const h = createHash(algo);
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) h.update(chunk);
  return h.digest("hex");
}

async function manifestLineOf(dir: string, name: string): Promise<string> {
  const p = join(dir, name);
  const { size } = await stat(p);
  return `DATA ${name} ${size} BLAKE2B ${await hashFile(p, "blake2b512")} SHA512 ${await hashFile(p, "sha512")}`;
}

const FAKE_SIGNATURE =
  "-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCgAdFiEEfakefakefake\n=fake\n-----END PGP SIGNATURE-----\n";

export async function writeGpkg(dir: string, opts: GpkgOptions): Promise<string> {
  const compression = opts.compression ?? "zst";
  const basename = opts.buildId === undefined ? opts.pf : `${opts.pf}-${opts.buildId}`;
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(dir, ".gpkg-work-"));
  try {
    const pkg = join(work, "pkg", basename);
    await mkdir(pkg, { recursive: true });
    const imageBytes = await writeImage(join(work, "img", "image"), opts);
    await writeMetadataDir(join(work, "meta", "metadata"), defaultMetadata(opts, imageBytes));

    await execa("tar", [
      "-C",
      join(work, "meta"),
      ...TAR_FLAGS,
      "-cf",
      join(pkg, "metadata.tar"),
      "metadata",
    ]);
    await execa("tar", ["-C", join(work, "img"), ...TAR_FLAGS, "-cf", join(pkg, "image.tar"), "image"]);
    const metadataName = (await compress(join(pkg, "metadata.tar"), compression)).slice(pkg.length + 1);
    const imageName = (await compress(join(pkg, "image.tar"), compression)).slice(pkg.length + 1);
    if (opts.metadataMember) {
      const p = join(pkg, metadataName);
      await writeFile(p, opts.metadataMember(await readFile(p)));
    }
    if (opts.imageMember) {
      const p = join(pkg, imageName);
      await writeFile(p, await opts.imageMember(await readFile(p)));
    }
    await writeFile(join(pkg, "gpkg-1"), "");

    const members = ["gpkg-1", metadataName];
    if (opts.signed) members.push(`${metadataName}.sig`);
    members.push(imageName);
    if (opts.signed) members.push(`${imageName}.sig`);
    if (opts.signed) {
      await writeFile(join(pkg, `${metadataName}.sig`), FAKE_SIGNATURE);
      await writeFile(join(pkg, `${imageName}.sig`), FAKE_SIGNATURE);
    }
    const lines: string[] = [];
    for (const m of members) lines.push(await manifestLineOf(pkg, m));
    let manifest = lines.map((l) => `${l}\n`).join("");
    if (opts.signed)
      manifest = `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n${manifest}${FAKE_SIGNATURE}`;
    if (opts.manifest) manifest = opts.manifest(manifest);
    await writeFile(join(pkg, "Manifest"), manifest);
    members.push("Manifest");
    if (opts.order === "reversed") members.reverse();

    const out = join(dir, opts.fileName ?? `${basename}.gpkg.tar`);
    await execa("tar", [
      "-C",
      join(work, "pkg"),
      ...TAR_FLAGS.filter((f) => f !== "--sort=name"),
      "--no-recursion",
      "-cf",
      out,
      ...members.map((m) => `${basename}/${m}`),
    ]);
    return out;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The XPAK segment of name → value, encoded here independently of the reader. */
function xpakSegment(entries: Record<string, Buffer>): Buffer {
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const index: Buffer[] = [];
  const data: Buffer[] = [];
  let offset = 0;
  for (const [name, value] of Object.entries(entries)) {
    const n = Buffer.from(name);
    index.push(u32(n.length), n, u32(offset), u32(value.length));
    data.push(value);
    offset += value.length;
  }
  const idx = Buffer.concat(index);
  const dat = Buffer.concat(data);
  return Buffer.concat([
    Buffer.from("XPAKPACK"),
    u32(idx.length),
    u32(dat.length),
    idx,
    dat,
    Buffer.from("XPAKSTOP"),
  ]);
}

/** A legacy package: `<pf>.tbz2` (no build id) or `<pf>-<id>.xpak`, bzip2 unless told otherwise. */
export async function writeXpak(dir: string, opts: PackageOptions): Promise<string> {
  const compression = opts.compression ?? "bz2";
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(dir, ".xpak-work-"));
  try {
    const imageBytes = await writeImage(join(work, "root"), opts);
    const tarball = join(work, "pkg.tar");
    await execa("tar", ["-C", join(work, "root"), ...TAR_FLAGS, "-cf", tarball, "."]);
    const compressed = await compress(tarball, compression);
    const entries: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(defaultMetadata(opts, imageBytes)))
      entries[k] = Buffer.from(`${v}\n`);
    entries["environment.bz2"] = Buffer.from(
      (await execa("bzip2", ["-c"], { input: "declare -x TESTVAR=1\n", encoding: "buffer" })).stdout,
    );
    const seg = xpakSegment(entries);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(seg.length);
    const name = opts.buildId === undefined ? `${opts.pf}.tbz2` : `${opts.pf}-${opts.buildId}.xpak`;
    const out = join(dir, name);
    await writeFile(out, await readFile(compressed));
    await appendFile(out, Buffer.concat([seg, len, Buffer.from("STOP")]));
    return out;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The offset of the first data byte and the size of the container member whose name ends
 * with `/<member>`, found by walking the ustar headers.
 */
export async function memberDataOffset(
  file: string,
  member: string,
): Promise<{ offset: number; size: number }> {
  const fh = await open(file, "r");
  try {
    const { size: fileSize } = await fh.stat();
    const header = Buffer.alloc(512);
    for (let pos = 0; pos + 512 <= fileSize;) {
      await fh.read(header, 0, 512, pos);
      if (header.every((b) => b === 0)) break;
      const field = (start: number, len: number): string =>
        header
          .subarray(start, start + len)
          .toString("latin1")
          .replace(/\0.*$/s, "");
      const prefix = field(345, 155);
      const name = prefix === "" ? field(0, 100) : `${prefix}/${field(0, 100)}`;
      const size = parseInt(field(124, 12).trim(), 8);
      if (name.endsWith(`/${member}`)) return { offset: pos + 512, size };
      pos += 512 + Math.ceil(size / 512) * 512;
    }
  } finally {
    await fh.close();
  }
  throw new Error(`no member ${member} in ${file}`);
}

/** Flips the bits of one byte of `file` at `offset`. */
export async function flipByte(file: string, offset: number): Promise<void> {
  const fh = await open(file, "r+");
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = (b[0] ?? 0) ^ 0xff;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

/** The bytes of one container member, read by GNU tar. */
export async function memberBytes(file: string, path: string): Promise<Buffer> {
  const r = await execa("tar", ["-xOf", file, path], { encoding: "buffer" });
  return Buffer.from(r.stdout);
}
