/**
 * `stagefarm binhost …` against a distributed farm of real processes (nats-server, s3rver, a
 * coordinator with tokens and roles): every command goes through the coordinator, the
 * binhosts' single writer, never the client's local store. ls/show/conf with a viewer token;
 * publish (the client uploads to the farm's S3 store, the coordinator publishes by digest),
 * rm, gc and set with an admin token; a viewer refused for changes with PERMISSION_DENIED
 * told as such; refusals naming the file; an unknown binhost's conf refused.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePackages } from "../../shared/binhost/index.js";
import { authFileText, makeTokens, writeAuthFile } from "../helpers/auth-fixtures.js";
import { quickGpkg } from "../helpers/binhost-harness.js";
import { withFarm } from "../helpers/farm-processes.js";
import { writeXpak } from "../helpers/gpkg-writer.js";

void test("stagefarm binhost ls|show|publish|rm|gc|set|conf through a farm's coordinator, by role", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sf-bh-farm-"));
  try {
    const tokens = makeTokens();
    const auth = await writeAuthFile(join(dir, "auth"), authFileText(tokens));
    const pkgs = join(dir, "pkgs");
    const old = await quickGpkg(join(pkgs, "1"), {
      category: "dev-libs",
      pf: "expat-2.6.2",
      buildId: 1,
      buildTime: 1_700_000_000,
    });
    const newer = await quickGpkg(join(pkgs, "2"), {
      category: "dev-libs",
      pf: "expat-2.6.2",
      buildId: 1,
      buildTime: 1_700_000_100,
      files: { n: "2" },
    });
    const zlib = await quickGpkg(join(pkgs, "3"), { category: "sys-libs", pf: "zlib-1.3.1", buildId: 1 });
    // Its container and metadata read fine (the CLI's own check passes), but one byte of its
    // compressed tarball is flipped: the coordinator reads the payload through and refuses it,
    // naming it by digest; the CLI names the file.
    const xpak = await writeXpak(join(pkgs, "4"), { category: "dev-libs", pf: "expat-2.6.2", buildId: 1 });
    const bytes = await readFile(xpak);
    const at = 64; // well inside the bzip2 stream, which starts the file
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    await writeFile(xpak, bytes);

    await withFarm({ coordinatorEnv: { STAGEFARM_AUTH: auth } }, async (farm) => {
      const as = (role: "viewer" | "admin") => ["--token", tokens[role]];
      const viaFarm = /^stagefarm binhost: farm coordinator 127\.0\.0\.1:\d+$/m;

      const empty = await farm.cli(["binhost", "ls", ...as("viewer")]);
      assert.equal(empty.code, 0, empty.stderr);
      assert.match(empty.stderr, viaFarm);
      assert.match(empty.stdout, /^0 binhost\(s\) in farm coordinator /m);

      // A viewer may not change a binhost: PERMISSION_DENIED, said as such; nothing uploaded matters.
      const denied = await farm.cli(["binhost", "publish", old, "--binhost", "amd64", ...as("viewer")]);
      assert.equal(denied.code, 2, denied.stderr);
      assert.match(denied.stderr, /token val has role viewer; PublishBinpkgs needs admin/);
      const noS3 = await farm.cli([
        "binhost",
        "publish",
        old,
        "--binhost",
        "amd64",
        "--s3",
        "",
        ...as("admin"),
      ]);
      assert.equal(noS3.code, 2);
      assert.match(noS3.stderr, /uploads the files to its S3 store first: pass --s3 URL/);
      const anonymous = await farm.cli(["binhost", "ls"]);
      assert.notEqual(anonymous.code, 0);
      assert.match(anonymous.stderr, /pass --token or set STAGEFARM_TOKEN/);

      const pub = await farm.cli([
        "binhost",
        "publish",
        old,
        newer,
        zlib,
        "--binhost",
        "amd64",
        ...as("admin"),
      ]);
      assert.equal(pub.code, 0, pub.stderr);
      assert.match(pub.stderr, viaFarm);
      assert.ok(pub.stdout.includes(`published ${old} as dev-libs/expat/expat-2.6.2-1.gpkg.tar`), pub.stdout);
      assert.ok(
        pub.stdout.includes(`published ${newer} as dev-libs/expat/expat-2.6.2-2.gpkg.tar`),
        pub.stdout,
      );
      assert.match(pub.stdout, /^published 3 package\(s\) to amd64 \(0 already there\); 3 in the index/m);

      const refused = await farm.cli(["binhost", "publish", xpak, "--binhost", "amd64", ...as("admin")]);
      assert.notEqual(refused.code, 0);
      assert.ok(refused.stderr.includes(`package ${xpak}`), refused.stderr);
      assert.match(refused.stderr, /cannot be extracted, as portage would fail to install it/);

      // The coordinator wrote the farm's store: its HTTP server serves the index from S3.
      const served = parsePackages(await (await fetch(`${farm.httpUrl}/binhost/amd64/Packages`)).text());
      assert.equal(served.packages.length, 3);
      // … and the client's local store was never touched.
      await assert.rejects(stat(join(farm.dir, "client-store", "binhost")), { code: "ENOENT" });

      // Only the S3 store (no coordinator named): read directly, and said so; changes refused.
      const direct = await farm.cli(["binhost", "ls", "--coordinator", ""]);
      assert.equal(direct.code, 0, direct.stderr);
      assert.match(direct.stderr, /^stagefarm binhost: farm store .* \(read directly\)$/m);
      assert.match(direct.stdout, /^amd64 +3 packages/m);
      const directRm = await farm.cli(["binhost", "rm", "amd64", "sys-libs/zlib-1.3.1", "--coordinator", ""]);
      assert.equal(directRm.code, 2);
      assert.match(directRm.stderr, /pass --coordinator HOST:PORT/);

      const ls = await farm.cliJson<{ name: string; packages: number }>([
        "binhost",
        "ls",
        "--json",
        ...as("viewer"),
      ]);
      assert.deepEqual([ls.name, ls.packages], ["amd64", 3]);
      const show = await farm.cli(["binhost", "show", "amd64", ...as("viewer")]);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /^ {2}sys-libs\/zlib\/zlib-1\.3\.1-1\.gpkg\.tar +\S+ \S+ +published \d{4}-/m);

      const rmDenied = await farm.cli(["binhost", "rm", "amd64", "sys-libs/zlib-1.3.1", ...as("viewer")]);
      assert.equal(rmDenied.code, 2);
      assert.match(rmDenied.stderr, /token val has role viewer; RemoveBinpkgs needs admin/);
      const removed = await farm.cli(["binhost", "rm", "amd64", "sys-libs/zlib-1.3.1", ...as("admin")]);
      assert.equal(removed.code, 0, removed.stderr);
      assert.match(removed.stdout, /^removed sys-libs\/zlib\/zlib-1\.3\.1-1\.gpkg\.tar$/m);

      const gcDenied = await farm.cli(["binhost", "gc", "amd64", "--dry-run", ...as("viewer")]);
      assert.equal(gcDenied.code, 2);
      assert.match(gcDenied.stderr, /CollectBinhost needs admin/);
      const dry = await farm.cliJson<{ removed: Array<{ path: string }> }>([
        "binhost",
        "gc",
        "amd64",
        "--dry-run",
        "--json",
        ...as("admin"),
      ]);
      assert.deepEqual(
        dry.removed.map((c) => c.path),
        ["dev-libs/expat/expat-2.6.2-1.gpkg.tar"],
      );
      const gc = await farm.cliJson<{ removed: Array<{ path: string }> }>([
        "binhost",
        "gc",
        "amd64",
        "--json",
        ...as("admin"),
      ]);
      assert.deepEqual(gc.removed, dry.removed);

      const set = await farm.cli([
        "binhost",
        "set",
        "amd64",
        "--header",
        "ARCH=amd64",
        "--priority",
        "40",
        "--location",
        "/var/cache/farm",
        ...as("admin"),
      ]);
      assert.equal(set.code, 0, set.stderr);
      const conf = await farm.cli([
        "binhost",
        "conf",
        "amd64",
        "--url",
        "http://farm.example:9464",
        ...as("viewer"),
      ]);
      assert.equal(conf.code, 0, conf.stderr);
      assert.equal(
        conf.stdout,
        "[amd64]\npriority = 40\nsync-uri = http://farm.example:9464/binhost/amd64\nverify-signature = false\nlocation = /var/cache/farm\n",
      );
      const unknown = await farm.cli(["binhost", "conf", "nope", ...as("viewer")]);
      assert.equal(unknown.code, 1);
      assert.equal(unknown.stdout, "");
      assert.match(unknown.stderr, /no binhost "nope"/);

      const after = parsePackages(await (await fetch(`${farm.httpUrl}/binhost/amd64/Packages`)).text());
      assert.deepEqual(
        after.packages.map((p) => p.PATH),
        ["dev-libs/expat/expat-2.6.2-2.gpkg.tar"],
      );
      assert.equal(after.header.ARCH, "amd64");
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
