/**
 * A binhost test bench: a fresh filesystem store, a BinhostService over it (optionally over a
 * store wrapper that records every index the service writes), real GLEP 78 packages written
 * by test/helpers/gpkg-writer.ts and uploaded to the CAS as an agent would.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pack } from "tar-stream";
import { BinhostService } from "../../coordinator/index.js";
import { silentLogger } from "../../shared/log.js";
import type { BinhostPackageRef } from "../../shared/protocol/binhost.js";
import { FsArtifactStore, type ArtifactStore } from "../../shared/store/index.js";
import {
  defaultMetadata,
  writeGpkg,
  writeXpak,
  type GpkgOptions,
  type PackageOptions,
} from "./gpkg-writer.js";

/** The reference index (a real portage binhost's Packages): the repository's fixture, else ../shared/reference. */
const REFERENCE_CANDIDATES = [
  new URL("../../../test/fixtures/binhost/Packages", import.meta.url),
  new URL("../../../../shared/reference/gentoo/binhost-example/257-binpkgs/Packages", import.meta.url),
];

export interface WrittenObject {
  path: string;
  bytes: Buffer;
}

async function bytesOf(data: Readable | Buffer | string): Promise<Buffer> {
  if (typeof data === "string") return Buffer.from(data);
  if (Buffer.isBuffer(data)) return data;
  const chunks: Buffer[] = [];
  for await (const c of data as AsyncIterable<Buffer | string>)
    chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

/**
 * A store that hands every object written under one of `watch` (exact paths) to `onWrite`
 * with its bytes, then writes it; everything else passes through.
 */
export function recordingStore(
  store: ArtifactStore,
  watch: (path: string) => boolean,
  onWrite: (o: WrittenObject) => void,
): ArtifactStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "putObject")
        return async (path: string, data: Readable | Buffer | string, opts?: { signal?: AbortSignal }) => {
          if (!watch(path)) return target.putObject(path, data, opts);
          const bytes = await bytesOf(data);
          const stat = await target.putObject(path, bytes, opts);
          onWrite({ path, bytes });
          return stat;
        };
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function tarOf(entries: Array<{ name: string; data: Buffer; type?: "directory" }>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries)
    if (e.type === "directory")
      p.entry({ name: e.name, type: "directory", mode: 0o755, mtime: new Date(0), uid: 0, gid: 0 });
    else
      p.entry({ name: e.name, size: e.data.length, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, e.data);
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

const hex = (algo: string, data: Buffer): string => createHash(algo).update(data).digest("hex");

/**
 * A GLEP 78 package built in-process (tar-stream, uncompressed `metadata.tar` and `image.tar`,
 * a Manifest with BLAKE2B and SHA512), for tests that need hundreds of packages: no
 * subprocesses. The same metadata keys as test/helpers/gpkg-writer.ts.
 */
export async function quickGpkg(dir: string, opts: PackageOptions): Promise<string> {
  const files = Object.entries(opts.files ?? { "usr/share/doc/README": "hello\n" });
  const image = await tarOf([
    { name: "image/", data: Buffer.alloc(0), type: "directory" },
    ...files.map(([path, content]) => ({ name: `image/${path}`, data: Buffer.from(content) })),
  ]);
  const size = files.reduce((a, [, c]) => a + Buffer.byteLength(c), 0);
  const metadata = await tarOf([
    { name: "metadata/", data: Buffer.alloc(0), type: "directory" },
    ...Object.entries(defaultMetadata(opts, size))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => ({ name: `metadata/${k}`, data: Buffer.from(`${v}\n`) })),
  ]);
  const base = opts.buildId === undefined ? opts.pf : `${opts.pf}-${opts.buildId}`;
  const members: Array<[string, Buffer]> = [
    ["gpkg-1", Buffer.alloc(0)],
    ["metadata.tar", metadata],
    ["image.tar", image],
  ];
  const manifest = members
    .map(([n, d]) => `DATA ${n} ${d.length} BLAKE2B ${hex("blake2b512", d)} SHA512 ${hex("sha512", d)}\n`)
    .join("");
  const container = await tarOf([
    ...members.map(([n, d]) => ({ name: `${base}/${n}`, data: d })),
    { name: `${base}/Manifest`, data: Buffer.from(manifest) },
  ]);
  await mkdir(dir, { recursive: true });
  const out = join(dir, `${base}.gpkg.tar`);
  await writeFile(out, container);
  return out;
}

export class BinhostBench implements AsyncDisposable {
  readonly service: BinhostService;
  #n = 0;

  private constructor(
    readonly dir: string,
    readonly fsStore: FsArtifactStore,
    readonly store: ArtifactStore,
    opts: { orphanGraceMs?: number },
  ) {
    this.service = new BinhostService({
      store,
      logger: silentLogger(),
      tmpDir: join(dir, "tmp"),
      ...(opts.orphanGraceMs === undefined ? {} : { orphanGraceMs: opts.orphanGraceMs }),
    });
  }

  static async create(
    opts: { wrap?: (s: ArtifactStore) => ArtifactStore; orphanGraceMs?: number } = {},
  ): Promise<BinhostBench> {
    const dir = await mkdtemp(join(tmpdir(), "sf-binhost-"));
    const fsStore = await FsArtifactStore.open(join(dir, "store"));
    await mkdir(join(dir, "tmp"));
    return new BinhostBench(dir, fsStore, opts.wrap ? opts.wrap(fsStore) : fsStore, opts);
  }

  /** A fresh directory for package files. */
  pkgDir(): string {
    return join(this.dir, `pkgs-${++this.#n}`);
  }

  /** Uploads a file to the CAS as an agent does; returns the publish reference. */
  async upload(file: string, extra: Partial<BinhostPackageRef> = {}): Promise<BinhostPackageRef> {
    const b = await this.fsStore.putBlobFile(file);
    return { digest: b.digest, size: b.size, ...extra };
  }

  async gpkg(
    opts: GpkgOptions,
    extra: Partial<BinhostPackageRef> = {},
  ): Promise<BinhostPackageRef & { file: string }> {
    const file = await writeGpkg(this.pkgDir(), opts);
    return { ...(await this.upload(file, extra)), file };
  }

  /** A package made by {@link quickGpkg} (fast), uploaded. */
  async quick(
    opts: PackageOptions,
    extra: Partial<BinhostPackageRef> = {},
  ): Promise<BinhostPackageRef & { file: string }> {
    const file = await quickGpkg(this.pkgDir(), opts);
    return { ...(await this.upload(file, extra)), file };
  }

  async xpak(opts: PackageOptions): Promise<BinhostPackageRef & { file: string }> {
    const file = await writeXpak(this.pkgDir(), opts);
    return { ...(await this.upload(file)), file };
  }

  /** Uploads arbitrary bytes as if they were a package. */
  async uploadBytes(bytes: Buffer): Promise<BinhostPackageRef> {
    const file = join(this.pkgDir() + ".bin");
    await writeFile(file, bytes);
    return this.upload(file);
  }

  /** The bytes of a store object (undefined when absent). */
  async object(path: string): Promise<Buffer | undefined> {
    if ((await this.fsStore.statObject(path)) === undefined) return undefined;
    return bytesOf(await this.fsStore.getObject(path));
  }

  async indexText(name: string): Promise<string | undefined> {
    return (await this.object(`binhost/${name}/Packages`))?.toString("utf8");
  }

  /** Copies a binhost object to a local file (to read it with readBinpkg). */
  async objectToFile(path: string): Promise<string> {
    const bytes = await this.object(path);
    if (bytes === undefined) throw new Error(`no object ${path}`);
    const file = join(this.dir, `obj-${++this.#n}`);
    await writeFile(file, bytes);
    return file;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.service.close();
    await this.fsStore.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export async function referenceIndexText(): Promise<string> {
  for (const u of REFERENCE_CANDIDATES) {
    try {
      return await readFile(u, "utf8");
    } catch {
      // try the next place
    }
  }
  throw new Error(
    `no reference Packages index at ${REFERENCE_CANDIDATES.map((u) => u.pathname).join(" or ")}`,
  );
}
