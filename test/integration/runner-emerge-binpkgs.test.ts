/**
 * Binary packages of an emerge stage (host mode, the emerge double): one blob per new package
 * with its index stanza, and the binhost seam with an in-test fake client.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { access, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { BinhostClient, BinhostPackage } from "../../agent/runners/binpkgs/index.js";
import { parsePackagesIndex } from "../../agent/runners/binpkgs/testing.js";
import { createEmergeRunner } from "../../agent/runners/emerge/index.js";
import { sha256 } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { EMERGE_DOUBLE, emergeContext, emergeStage } from "../helpers/emerge-stage.js";

const run = promisify(execFile);
const HOST_ENV = { ROOT: "gentoo", PORTAGE_CONFIGROOT: "cfg" };
const BUILDPKG = { config_root: "cfg", make_conf: 'FEATURES="buildpkg"\n' };

/** A binhost client that records what the runner asked of it. */
class FakeBinhost implements BinhostClient {
  readonly confs: string[] = [];
  readonly published: Array<{ name: string; packages: readonly BinhostPackage[] }> = [];
  constructor(private readonly failPublish = false) {}
  binreposConf(name: string): Promise<string> {
    this.confs.push(name);
    return Promise.resolve(`[${name}]\npriority = 10\nsync-uri = http://farm.test/binhost/${name}\n`);
  }
  publish(name: string, packages: readonly BinhostPackage[]): Promise<void> {
    this.published.push({ name, packages });
    return this.failPublish
      ? Promise.reject(new StagefarmError("unavailable", "connection refused"))
      : Promise.resolve();
  }
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

void describe("emerge runner: binary packages and the binhost seam", () => {
  let dir: string;
  let store: FsArtifactStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-emerge-pkgs-"));
    store = await FsArtifactStore.open(join(dir, "store"));
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function blobText(digest: string): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of await store.getBlob(digest)) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }

  void test("each new package is its own blob, with its exact stanza from PKGDIR/Packages in index order", async () => {
    const w = {
      configs: [BUILDPKG],
      emerge: [
        { args: ["-1", "sys-devel/gcc", "=sys-kernel/linux-headers-6.6"] },
        { args: ["-1b", "app-arch/lzip"] },
      ],
    };
    const runner = createEmergeRunner({ emergeCommand: EMERGE_DOUBLE, loadAverage: 2 });
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    const result = await runner.run(ctx);

    const stored = result.stored ?? {};
    const names = Object.keys(stored).sort();
    assert.deepEqual(names, [
      "binpkg:app-arch/lzip/lzip-1.0-1.gpkg.tar",
      "binpkg:sys-devel/gcc/gcc-1.0-1.gpkg.tar",
      "binpkg:sys-kernel/linux-headers/linux-headers-6.6-1.gpkg.tar",
      "binpkgs.index",
    ]);
    const pkgdir = join(ctx.workspace, "binpkgs");
    for (const name of names.filter((n) => n.startsWith("binpkg:"))) {
      const file = await readFile(join(pkgdir, name.slice("binpkg:".length)));
      assert.deepEqual(stored[name], { digest: sha256(file), size: file.length, kind: "file" });
    }
    // The package is a GLEP 78 container the tar tool reads.
    const { stdout } = await run("tar", ["-tf", join(pkgdir, "sys-devel/gcc/gcc-1.0-1.gpkg.tar")]);
    assert.deepEqual(stdout.trim().split("\n"), [
      "gcc-1.0-1/gpkg-1",
      "gcc-1.0-1/metadata.tar",
      "gcc-1.0-1/image.tar",
      "gcc-1.0-1/Manifest",
    ]);

    const packagesText = await readFile(join(pkgdir, "Packages"), "utf8");
    const blocks = parsePackagesIndex(packagesText);
    assert.equal(blocks.length, 3);
    const index = await blobText(stored["binpkgs.index"]?.digest ?? "");
    assert.equal(index, blocks.map((b) => b.text).join("\n"));
    assert.ok(packagesText.includes(index.split("\n\n")[0] ?? "x"), "stanzas are verbatim");
    assert.match(index, /^BUILD_ID: 1\nBUILD_TIME: \d+\nCPV: sys-devel\/gcc-1\.0\n/);
    assert.match(
      output(),
      /collected 3 binary package\(s\) from binpkgs: sys-devel\/gcc\/gcc-1\.0-1\.gpkg\.tar, /,
    );
  });

  void test("only packages new or changed since the stage began are collected", async () => {
    const runner = createEmergeRunner({ emergeCommand: EMERGE_DOUBLE, loadAverage: 2 });
    const first = { configs: [BUILDPKG], emerge: [{ args: ["-1", "sys-apps/sed"] }] };
    const { ctx } = await emergeContext(dir, emergeStage(first, { env: HOST_ENV }), store);
    await runner.run(ctx);
    // The same workspace again (as when an earlier stage's PKGDIR is an input): sed is old now.
    ctx.stage = emergeStage(
      { ...first, emerge: [{ args: ["-1", "sys-apps/grep", "sys-apps/sed"] }] },
      { env: HOST_ENV },
    );
    const result = await runner.run(ctx);
    assert.deepEqual(Object.keys(result.stored ?? {}).sort(), [
      "binpkg:sys-apps/grep/grep-1.0-1.gpkg.tar",
      "binpkg:sys-apps/sed/sed-1.0-2.gpkg.tar",
      "binpkgs.index",
    ]);
    const index = await blobText(result.stored?.["binpkgs.index"]?.digest ?? "");
    assert.deepEqual(
      index.split("\n").filter((l) => l.startsWith("PATH: ")),
      ["PATH: sys-apps/grep/grep-1.0-1.gpkg.tar", "PATH: sys-apps/sed/sed-1.0-2.gpkg.tar"],
    );
  });

  void test("no package built: an empty index, and the log says so", async () => {
    const runner = createEmergeRunner({ emergeCommand: EMERGE_DOUBLE, loadAverage: 2 });
    const w = {
      configs: [{ config_root: "cfg", make_conf: "" }],
      emerge: [{ args: ["-1", "sys-apps/sed"] }],
    };
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    const result = await runner.run(ctx);
    assert.deepEqual(Object.keys(result.stored ?? {}), ["binpkgs.index"]);
    assert.equal(result.stored?.["binpkgs.index"]?.size, 0);
    assert.match(output(), /^no new binary packages in binpkgs$/m);
  });

  void test("without a Packages index the stanzas are derived from the files, and the log says so", async () => {
    const runner = createEmergeRunner({ emergeCommand: EMERGE_DOUBLE, loadAverage: 2 });
    const w = {
      configs: [{ config_root: "cfg", make_conf: "" }],
      pkgdir: "pkgs",
      emerge: [{ args: ["dev-libs/libsigc++"], command: "./write-pkg.sh" }],
    };
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    await writeFile(
      join(ctx.workspace, "write-pkg.sh"),
      '#!/bin/bash\nset -e\nmkdir -p "$PKGDIR/dev-libs/libsigc++"\nprintf pkg > "$PKGDIR/dev-libs/libsigc++/libsigc++-2.12.1-3.gpkg.tar"\n' +
        'printf xpak > "$PKGDIR/sys-apps/sed-4.9.tbz2"\n',
    );
    await chmod(join(ctx.workspace, "write-pkg.sh"), 0o755);
    await mkdir(join(ctx.workspace, "pkgs/sys-apps"), { recursive: true });
    const result = await runner.run(ctx);
    const index = await blobText(result.stored?.["binpkgs.index"]?.digest ?? "");
    const lines = index.trimEnd().split("\n");
    assert.deepEqual(lines.slice(0, 2), ["BUILD_ID: 3", "CPV: dev-libs/libsigc++-2.12.1"]);
    assert.match(index, /^MD5: [0-9a-f]{32}$/m);
    assert.match(index, /^SHA1: [0-9a-f]{40}$/m);
    assert.match(
      index,
      /^PATH: dev-libs\/libsigc\+\+\/libsigc\+\+-2\.12\.1-3\.gpkg\.tar\nSHA1: [0-9a-f]{40}\nSIZE: 3\nMTIME: \d+$/m,
    );
    assert.match(index, /\n\nCPV: sys-apps\/sed-4\.9\nMD5: [0-9a-f]{32}\nPATH: sys-apps\/sed-4\.9\.tbz2\n/);
    assert.match(
      output(),
      /^pkgs\/Packages does not exist: deriving the index stanzas from the package files$/m,
    );
    assert.deepEqual(Object.keys(result.stored ?? {}).sort(), [
      "binpkg:dev-libs/libsigc++/libsigc++-2.12.1-3.gpkg.tar",
      "binpkg:sys-apps/sed-4.9.tbz2",
      "binpkgs.index",
    ]);
  });

  void test("binhost: binrepos.conf is written, every invocation gets --getbinpkg, the packages are published", async () => {
    const fake = new FakeBinhost();
    const runner = createEmergeRunner({ emergeCommand: EMERGE_DOUBLE, loadAverage: 2, binhost: fake });
    const w = {
      configs: [
        { config_root: "cfg", make_conf: "" },
        { config_root: "cross", make_conf: "" },
      ],
      emerge: [
        { args: ["-1", "sys-devel/binutils"], env: { PORTAGE_CONFIGROOT: "cross" } },
        { args: ["-1", "sys-libs/zlib"] },
      ],
      binhost: { name: "amd64" },
    };
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    // An existing binrepos.conf file (portage's own) becomes a directory holding it.
    await mkdir(join(ctx.workspace, "cfg/etc/portage"), { recursive: true });
    await writeFile(
      join(ctx.workspace, "cfg/etc/portage/binrepos.conf"),
      "[gentoobinhost]\nsync-uri = https://x\n",
    );
    const result = await runner.run(ctx);

    assert.deepEqual(fake.confs, ["amd64"]);
    // The stanza was there for the emerges (the double read it) and is gone afterwards: the
    // agent's binhost config never stays in the root the stage passes on.
    for (const root of ["cfg", "cross"])
      assert.equal(
        await exists(join(ctx.workspace, root, "etc/portage/binrepos.conf/stagefarm-amd64.conf")),
        false,
      );
    assert.match(
      output(),
      /^emerge-double: binrepos\.conf: binrepos\.conf\/stagefarm-amd64\.conf sync-uri=http:\/\/farm\.test\/binhost\/amd64$/m,
    );
    assert.match(output(), /^removed cfg\/etc\/portage\/binrepos\.conf\/stagefarm-amd64\.conf$/m);
    assert.equal(
      await readFile(join(ctx.workspace, "cfg/etc/portage/binrepos.conf/00-local.conf"), "utf8"),
      "[gentoobinhost]\nsync-uri = https://x\n",
    );
    const text = output();
    assert.match(
      text,
      /^>>> emerge 1\/2: .*FEATURES='getbinpkg buildpkg' \S+ --getbinpkg --jobs=\d+ --load-average=\d+ -1 sys-devel\/binutils$/m,
    );
    assert.match(text, /^>>> emerge 2\/2: .* --getbinpkg --jobs=\d+ --load-average=\d+ -1 sys-libs\/zlib$/m);
    assert.match(
      text,
      /emerge-double: would fetch sys-devel\/binutils-1\.0 from http:\/\/farm\.test\/binhost\/amd64/,
    );
    assert.match(
      text,
      /emerge-double: would fetch sys-libs\/zlib-1\.0 from http:\/\/farm\.test\/binhost\/amd64/,
    );

    assert.equal(fake.published.length, 1);
    const pub = fake.published[0];
    assert.equal(pub?.name, "amd64");
    assert.deepEqual(
      pub?.packages.map((p) => p.relpath),
      ["sys-devel/binutils/binutils-1.0-1.gpkg.tar", "sys-libs/zlib/zlib-1.0-1.gpkg.tar"],
    );
    for (const p of pub?.packages ?? []) {
      assert.equal(result.stored?.[`binpkg:${p.relpath}`]?.digest, p.digest);
      assert.ok(p.fromIndex);
      assert.match(p.stanza, new RegExp(`^PATH: ${p.relpath.replace(/[+.]/g, "\\$&")}$`, "m"));
    }
    assert.match(text, /^publishing 2 package\(s\) to binhost "amd64"$/m);
  });

  void test("binhost named but no client on this agent: a log line, and the stage builds without it", async () => {
    const runner = createEmergeRunner({ emergeCommand: EMERGE_DOUBLE, loadAverage: 2 });
    const w = {
      configs: [BUILDPKG],
      emerge: [{ args: ["-1", "sys-libs/zlib"] }],
      binhost: { name: "amd64" },
    };
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    const result = await runner.run(ctx);
    const text = output();
    assert.match(
      text,
      /^the farm binhost is not configured on this agent: building without binhost "amd64"$/m,
    );
    assert.doesNotMatch(text, /--getbinpkg/);
    assert.match(text, /emerge-double: buildpkg=yes oneshot=yes getbinpkg=no/);
    assert.ok(result.stored?.["binpkg:sys-libs/zlib/zlib-1.0-1.gpkg.tar"]);
  });

  void test("use: false publishes without fetching; a failed publish fails the stage naming the binhost", async () => {
    const fake = new FakeBinhost(true);
    const runner = createEmergeRunner({ emergeCommand: EMERGE_DOUBLE, loadAverage: 2, binhost: fake });
    const w = {
      configs: [{ config_root: "cfg", make_conf: "" }],
      emerge: [{ args: ["-1", "sys-libs/zlib"] }],
      binhost: { name: "amd64", use: false },
    };
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    await assert.rejects(runner.run(ctx), (e: unknown) => {
      assert.ok(e instanceof StagefarmError);
      assert.equal(e.code, "unavailable");
      assert.equal(e.message, 'stage "cross": publishing to binhost "amd64" failed: connection refused');
      return true;
    });
    assert.deepEqual(fake.confs, []);
    assert.doesNotMatch(output(), /--getbinpkg/);
    assert.equal(fake.published[0]?.packages.length, 1);
  });
});
