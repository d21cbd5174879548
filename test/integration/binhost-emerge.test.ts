/**
 * The emerge runner with the real binhost client of the embedded farm (cli/embedded-binhost.ts:
 * the BinhostService called directly, binhosts served by a loopback HTTP server started on
 * first use), running the emerge double in host mode: what one stage built is published, the
 * next stage's binrepos.conf points at the binhost, which serves the packages, and a rebuild of
 * the same package gets the next BUILD_ID.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEmergeRunner } from "../../agent/runners/emerge/index.js";
import { EmbeddedBinhost } from "../../cli/embedded-binhost.js";
import { parsePackages } from "../../shared/binhost/index.js";
import { readBinpkg } from "../../shared/binpkg/index.js";
import { silentLogger } from "../../shared/log.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { EMERGE_DOUBLE, emergeContext, emergeStage } from "../helpers/emerge-stage.js";

const HOST_ENV = { ROOT: "gentoo", PORTAGE_CONFIGROOT: "cfg" };

void describe("emerge runner with the embedded farm's binhost client", () => {
  void test("a stage publishes what it built; the next stage fetches from the binhost it points at", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-binhost-emerge-"));
    const store = await FsArtifactStore.open(join(dir, "store"));
    const binhost = new EmbeddedBinhost(store, silentLogger());
    try {
      const runner = createEmergeRunner({
        emergeCommand: EMERGE_DOUBLE,
        loadAverage: 2,
        binhost: binhost.client("local-1"),
      });
      const w = {
        configs: [{ config_root: "cfg", make_conf: 'USE="nls"\n' }],
        emerge: [{ args: ["-1", "dev-libs/libsigc++", "sys-libs/zlib"] }],
        binhost: { name: "amd64" },
      };

      // Stage one: builds (buildpkg because it publishes) and publishes.
      const one = await emergeContext(dir, emergeStage(w, { name: "world", env: HOST_ENV }), store);
      await runner.run(one.ctx);
      const base = await binhost.baseUrl();
      assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
      const log1 = one.output();
      assert.match(
        log1,
        /^binhost "amd64": published dev-libs\/libsigc\+\+\/libsigc\+\+-1\.0-1\.gpkg\.tar as dev-libs\/libsigc\+\+\/libsigc\+\+-1\.0-1\.gpkg\.tar$/m,
      );
      assert.match(
        log1,
        /^binhost "amd64": 2 package\(s\) added, 0 already there; index TIMESTAMP \d+, 2 package\(s\)$/m,
      );

      // The binhost, over HTTP, lists and serves them.
      const index = parsePackages(await (await fetch(`${base}/binhost/amd64/Packages`)).text());
      assert.deepEqual(
        index.packages.map((p) => [p.CPV, p.BUILD_ID, p.USE, p.PATH]),
        [
          ["dev-libs/libsigc++-1.0", "1", "nls", "dev-libs/libsigc++/libsigc++-1.0-1.gpkg.tar"],
          ["sys-libs/zlib-1.0", "1", "nls", "sys-libs/zlib/zlib-1.0-1.gpkg.tar"],
        ],
      );
      const pkg = await fetch(`${base}/binhost/amd64/dev-libs/libsigc++/libsigc++-1.0-1.gpkg.tar`);
      assert.equal(pkg.status, 200);
      assert.equal(String((await pkg.arrayBuffer()).byteLength), index.packages[0]?.SIZE);
      const shown = await binhost.service.show("amd64");
      assert.deepEqual(
        shown.entries.map((e) => [e.record?.stage, e.record?.agent]),
        [
          ["test/world", "local-1"],
          ["test/world", "local-1"],
        ],
      );

      // Stage two: its binrepos.conf points at the binhost; emerge is told to use it.
      const two = await emergeContext(dir, emergeStage(w, { name: "again", env: HOST_ENV }), store);
      await runner.run(two.ctx);
      // The stanza the runner writes for the emerges (and removes after them: the root keeps
      // none of the agent's config).
      assert.equal(
        await binhost.client("local-1").binreposConf("amd64"),
        `[amd64]\npriority = 9999\nsync-uri = ${base}/binhost/amd64\nverify-signature = false\n`,
      );
      await assert.rejects(
        readFile(join(two.ctx.workspace, "cfg/etc/portage/binrepos.conf/stagefarm-amd64.conf")),
        /ENOENT/,
      );
      const log2 = two.output();
      assert.ok(
        log2.includes(
          `emerge-double: binrepos.conf: binrepos.conf/stagefarm-amd64.conf sync-uri=${base}/binhost/amd64`,
        ),
        log2,
      );
      assert.ok(
        log2.includes(`emerge-double: would fetch sys-libs/zlib-1.0 from ${base}/binhost/amd64`),
        log2,
      );
      // The double builds anyway (it cannot fetch): the rebuild gets the next BUILD_ID, inside too.
      assert.match(
        log2,
        /^binhost "amd64": published sys-libs\/zlib\/zlib-1\.0-1\.gpkg\.tar as sys-libs\/zlib\/zlib-1\.0-2\.gpkg\.tar \(BUILD_ID 2; its own 1 was taken\)$/m,
      );
      const got = await fetch(`${base}/binhost/amd64/sys-libs/zlib/zlib-1.0-2.gpkg.tar`);
      assert.equal(got.status, 200);
      const file = join(dir, "zlib-2.gpkg.tar");
      await writeFile(file, Buffer.from(await got.arrayBuffer()));
      assert.equal((await readBinpkg(file)).buildId, 2);
      const after = parsePackages(await (await fetch(`${base}/binhost/amd64/Packages`)).text());
      assert.equal(after.packages.length, 4);
      assert.ok(Number(after.header.TIMESTAMP) > Number(index.header.TIMESTAMP));
    } finally {
      await binhost.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
