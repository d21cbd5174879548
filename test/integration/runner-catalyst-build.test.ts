/**
 * The catalyst runner building through the stage executor, with the catalyst double
 * (test/doubles/catalyst-double.ts) in place of Catalyst, the real releng fixture, a real store
 * and real tarballs: stage1 from a bootstrap seed, stage3 from that stage1's image, and
 * installcd-stage1 → installcd-stage2-minimal producing an ISO. The tests run in order: each
 * later one builds from an earlier one's image.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { gunzipSync } from "node:zlib";
import { sha256 } from "../../shared/digest.js";
import type { ArtifactRef } from "../../shared/pipeline/index.js";
import {
  CatalystBench,
  catalystStage,
  imageRef,
  ISO_EDITS,
  SPECS,
  STAGE_EDITS,
  TIMESTAMP,
  TREEISH,
} from "../helpers/catalyst-bench.js";

void describe("catalyst runner with the catalyst double", () => {
  let bench: CatalystBench;
  before(async () => {
    bench = await CatalystBench.create();
  });
  after(async () => {
    await bench.close();
  });

  let stage1Image: ArtifactRef;
  let livecd1Image: ArtifactRef;

  void test("stage1 from the bootstrap seed, with the procedure's releng edits", async () => {
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      releng_edits: STAGE_EDITS,
      overrides: { source_subpath: "default/stage3-bootstrap" },
      catalyst_version: "4.1.1",
    });
    const { result, log } = await bench.run(s);
    stage1Image = imageRef(result);
    const base = `stage1-amd64-systemd-${TIMESTAMP}`;

    const build = await bench.unpackTree(result.outputs["build"]?.digest ?? "", "stage1-build");
    assert.deepEqual((await readdir(build)).sort(), [
      `${base}.tar.xz`,
      `${base}.tar.xz.CONTENTS.gz`,
      `${base}.tar.xz.DIGESTS`,
      `${base}.tar.xz.sha256`,
    ]);
    const image = await readFile(join(build, `${base}.tar.xz`));
    assert.equal(sha256(image), stage1Image.digest, "image.tar.xz is the built tarball");
    assert.equal(
      await readFile(join(build, `${base}.tar.xz.sha256`), "utf8"),
      `# SHA256 HASH\n${stage1Image.digest}  ${base}.tar.xz\n`,
    );
    const digests = await readFile(join(build, `${base}.tar.xz.DIGESTS`), "utf8");
    assert.match(
      digests,
      /^# BLAKE2B HASH\n[0-9a-f]{128} {2}stage1-amd64-systemd-.*\.tar\.xz\n# SHA512 HASH\n/,
    );
    assert.match(digests, /\.tar\.xz\.CONTENTS\.gz\n$/);
    const contents = gunzipSync(await readFile(join(build, `${base}.tar.xz.CONTENTS.gz`))).toString();
    assert.match(contents, /\.\/etc\/os-release/);

    const root = await bench.unpackImage(stage1Image, "stage1");
    assert.equal(
      await readFile(join(root, "etc/os-release"), "utf8"),
      "NAME=bootstrap\n",
      "built from the seed",
    );
    const record = await readFile(join(root, "etc/catalyst-double/stage1"), "utf8");
    assert.match(record, /^source_subpath: default\/stage3-bootstrap$/m);
    assert.match(record, new RegExp(`^version_stamp: systemd-${TIMESTAMP}$`, "m"));
    assert.match(record, new RegExp(`^snapshot_treeish: ${TREEISH}$`, "m"));
    // portage_confdir (the edited releng checkout) reached the build.
    assert.match(
      await readFile(join(root, "etc/portage/package.mask/releng/rust"), "utf8"),
      /^dev-lang\/rust-bin$/m,
    );
    assert.equal(await readFile(join(root, "etc/portage/profile/packages.build"), "utf8"), "dev-lang/rust\n");
    assert.match(
      await readFile(join(root, "etc/portage/package.use/releng/circular"), "utf8"),
      /^net-misc\/curl http2 ssl openssl curl_ssl_openssl$/m,
    );

    const pkgs = Object.keys(result.outputs)
      .filter((k) => k.startsWith("binpkg:"))
      .sort();
    assert.deepEqual(pkgs, [
      "binpkg:app-misc/double-hello/double-hello-1.0-1.gpkg.tar",
      "binpkg:sys-apps/baselayout/baselayout-2.17-1.gpkg.tar",
    ]);
    const index = await text(await bench.store.getBlob(result.outputs["binpkgs.index"]?.digest ?? ""));
    assert.match(index, /^CPV: sys-apps\/baselayout-2.17$/m);

    assert.match(log, /^>>> catalyst: catalyst 4\.1\.1 \(as required\)$/m);
    // The procedure's `catalyst -v`, and "set jobs and load-average appropriately".
    assert.match(log, /^>>> catalyst: running .* -v -c \S+catalyst\.conf -f /m);
    assert.match(log, /^>>> catalyst: {3}jobs = 3$/m);
    assert.match(log, /^>>> catalyst: {3}load-average = \d+$/m);
    assert.match(
      log,
      /^>>> catalyst: releng edit 1: releases\/portage\/stages\/package\.mask\/releng\/rust: replaced 1 line\(s\)$/m,
    );
    assert.match(
      log,
      /^>>> catalyst: releng edit 2: releases\/portage\/stages\/profile\/packages\.build: created/m,
    );
    assert.match(
      log,
      /^>>> catalyst: catalyst\.conf: storedir forced to ".*\/\.stagefarm\/catalyst\/store"$/m,
    );
    assert.match(log, /^source_subpath: default\/stage3-bootstrap$/m, "the rendered spec is logged");
    assert.match(log, new RegExp(`^portage_confdir: /.*/releng/releases/portage/stages$`, "m"));
    assert.match(
      log,
      /^>>> catalyst: seed seed\/seed\.tar\.xz placed at storedir\/builds\/default\/stage3-bootstrap\.tar\.xz$/m,
    );
    assert.match(
      log,
      new RegExp(
        `^>>> catalyst: snapshot snapshot/gentoo.sqfs placed at storedir/snapshots/gentoo-${TREEISH}.sqfs$`,
        "m",
      ),
    );
    assert.match(log, /Catalyst \(double\) completed successfully/);
  });

  void test("stage3 from the stage1 image (source_subpath as the releng spec has it)", async () => {
    assert.ok(stage1Image, "stage1 ran first");
    const s = catalystStage("stage3", { spec: `${SPECS}/stage3-systemd-23.spec`, releng_edits: STAGE_EDITS });
    const { result, log } = await bench.run(s, stage1Image);
    assert.match(
      log,
      new RegExp(`placed at storedir/builds/23.0-default/stage1-amd64-systemd-${TIMESTAMP}.tar.xz$`, "m"),
    );
    const build = await bench.unpackTree(result.outputs["build"]?.digest ?? "", "stage3-build");
    assert.ok((await readdir(build)).includes(`stage3-amd64-systemd-${TIMESTAMP}.tar.xz`));
    assert.ok(
      !(await readdir(build)).some((f) => f.startsWith("stage1-")),
      "the placed seed is not collected",
    );
    const root = await bench.unpackImage(imageRef(result), "stage3");
    assert.match(await readFile(join(root, "etc/catalyst-double/stage1"), "utf8"), /^target: stage1$/m);
    assert.match(await readFile(join(root, "etc/catalyst-double/stage3"), "utf8"), /^target: stage3$/m);
    assert.equal(await readFile(join(root, "etc/os-release"), "utf8"), "NAME=bootstrap\n");
  });

  void test("installcd-stage1 from the bootstrap seed", async () => {
    const s = catalystStage("installcd-stage1", {
      spec: `${SPECS}/installcd-stage1.spec`,
      releng_edits: ISO_EDITS,
      overrides: { source_subpath: "default/stage3-bootstrap" },
    });
    const { result } = await bench.run(s);
    livecd1Image = imageRef(result);
    const build = await bench.unpackTree(result.outputs["build"]?.digest ?? "", "livecd1-build");
    assert.ok((await readdir(build)).includes(`livecd-stage1-amd64-${TIMESTAMP}.tar.xz`));
    assert.ok(
      result.outputs["binpkg:app-accessibility/brltty/brltty-1.0-1.gpkg.tar"],
      "pkgcache of livecd-stage1",
    );
    const root = await bench.unpackImage(livecd1Image, "livecd1");
    assert.match(
      await readFile(join(root, "etc/portage/package.accept_keywords/admincd-packages"), "utf8"),
      /\nnet-libs\/mbedtls\n$/,
    );
  });

  void test("installcd-stage2-minimal from installcd-stage1 writes the ISO", async () => {
    assert.ok(livecd1Image, "installcd-stage1 ran first");
    const s = catalystStage(
      "installcd-stage2",
      { spec: `${SPECS}/installcd-stage2-minimal.spec`, releng_edits: ISO_EDITS },
      "image.iso",
    );
    const { result, log } = await bench.run(s, livecd1Image);
    const iso = `install-amd64-minimal-${TIMESTAMP}.iso`;
    const build = await bench.unpackTree(result.outputs["build"]?.digest ?? "", "livecd2-build");
    assert.deepEqual((await readdir(build)).sort(), [
      iso,
      `${iso}.CONTENTS.gz`,
      `${iso}.DIGESTS`,
      `${iso}.sha256`,
      `livecd-stage2-amd64-${TIMESTAMP}.tar.bz2`,
      `livecd-stage2-amd64-${TIMESTAMP}.tar.bz2.CONTENTS.gz`,
      `livecd-stage2-amd64-${TIMESTAMP}.tar.bz2.DIGESTS`,
      `livecd-stage2-amd64-${TIMESTAMP}.tar.bz2.sha256`,
    ]);
    const image = result.outputs["image"];
    assert.equal(image?.digest, sha256(await readFile(join(build, iso))), "image.iso is the ISO");
    const bytes = await readFile(join(build, iso));
    assert.equal(bytes.subarray(0x8001, 0x8006).toString("latin1"), "CD001");
    assert.match(
      bytes.subarray(0x8028, 0x8048).toString("latin1"),
      /Gentoo-amd64-20250612/,
      "DATESTAMP reached the volume id",
    );
    assert.match(log, /^>>> catalyst: primary artifact install-amd64-minimal-.*\.iso is image\.iso$/m);
  });
});
