/**
 * The catalyst runner's failures through the stage executor, with the catalyst double
 * (test/doubles/catalyst-double.ts) in place of Catalyst: a missing seed, a releng edit that no
 * longer applies, an unknown placeholder, a failing or cancelled catalyst, a shared pkgcache, a
 * seed Catalyst cannot unpack, a version mismatch, a rendered spec key its target refuses, a
 * cdtar only Catalyst master ships, a snapshot archive of another commit; and a seed whose name
 * lies about its compression is placed by its content. Each failure names the stage and the
 * cause, and the workspace is removed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { CatalystBench, catalystStage, SPECS, STAGE_EDITS } from "../helpers/catalyst-bench.js";

const run = promisify(execFile);

void describe("catalyst runner with the catalyst double", () => {
  let bench: CatalystBench;
  before(async () => {
    bench = await CatalystBench.create();
  });
  after(async () => {
    await bench.close();
  });

  void test("a missing seed: with.seed unset while the spec needs one", async () => {
    const s = catalystStage("stage1", { spec: `${SPECS}/stage1-systemd-23.spec`, seed: undefined });
    const { e } = await bench.failure(s);
    assert.equal(e.code, "invalid_pipeline");
    assert.match(
      e.message,
      /^stage "stage1": missing seed: the spec's source_subpath is "23\.0-default\/stage3-amd64-systemd-latest" but with\.seed is not set/,
    );
  });

  void test("a missing seed: with.seed names no file", async () => {
    const s = catalystStage("stage1", { spec: `${SPECS}/stage1-systemd-23.spec`, seed: "seed/other.tar.xz" });
    const { e } = await bench.failure(s);
    assert.match(
      e.message,
      /^stage "stage1": missing seed: with\.seed "seed\/other\.tar\.xz" is not a file in the workspace/,
    );
  });

  void test("a releng edit that no longer applies fails before catalyst runs", async () => {
    const file = "releases/portage/stages/package.mask/releng/rust";
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      releng_edits: [STAGE_EDITS[1], { file, replace: [{ from: "dev-lang/rust-bin", to: "dev-lang/rust" }] }],
    });
    const { e, log } = await bench.failure(s);
    assert.equal(e.code, "invalid_pipeline");
    assert.equal(
      e.message,
      `stage "stage1" releng edit 2 (${file}): edit no longer applies: replace[0]: text not found: "dev-lang/rust-bin"`,
    );
    assert.doesNotMatch(log, /running .*catalyst-double/);
  });

  void test("an unknown placeholder in the (edited) template names file:line:col", async () => {
    const spec = `${SPECS}/stage1-systemd-23.spec`;
    const s = catalystStage("stage1", {
      spec,
      releng_edits: [{ file: spec, append: "livecd/volid: Gentoo-@ARCH@-@DATESTAMP@" }],
    });
    const { e } = await bench.failure(s);
    assert.equal(e.code, "invalid_pipeline");
    assert.match(e.message, new RegExp(`^releng/${spec}:13:22: unknown placeholder @ARCH@\n`));
  });

  void test("a failing catalyst fails the stage naming its status and last lines", async () => {
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      overrides: { source_subpath: "default/stage3-bootstrap" },
    });
    const { e, log } = await bench.failure(s, ["--double-fail", "emerge failed for sys-libs/glibc-2.41"]);
    assert.equal(e.code, "stage_failed");
    assert.match(e.message, /^stage "stage1" failed: catalyst exited with status 1; its last lines:\n/);
    assert.match(e.message, /!!! emerge failed for sys-libs\/glibc-2\.41/);
    assert.equal(e.details["exitCode"], 1);
    assert.match(String(e.details["logTail"]), /build aborted due to error/);
    assert.match(log, /stage failed \(stage_failed\)/);
  });

  void test("cancelling a running catalyst kills it and removes the workspace", async () => {
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      overrides: { source_subpath: "default/stage3-bootstrap" },
    });
    const controller = new AbortController();
    let live = "";
    const onLog = (chunk: string): void => {
      live += chunk;
      if (live.includes("Running action sequence")) controller.abort();
    };
    const { e, log } = await bench.failure(s, ["--double-sleep-ms", "60000"], {
      signal: controller.signal,
      onLog,
    });
    assert.equal(e.code, "cancelled");
    assert.match(log, /Running action sequence/);
    assert.doesNotMatch(log, /completed successfully/);
  });

  void test("a spec setting pkgcache_path is refused", async () => {
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      overrides: { source_subpath: "default/stage3-bootstrap", pkgcache_path: "/var/cache/shared" },
    });
    const { e } = await bench.failure(s);
    assert.equal(e.code, "invalid_pipeline");
    assert.match(
      e.message,
      /sets pkgcache_path; the catalyst runner keeps the package cache in its own storedir/,
    );
  });

  void test("a seed Catalyst cannot unpack (zstd) is refused, recognised by its bytes", async () => {
    await writeFile(join(bench.dir, "seed.zst"), Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]));
    const blob = await bench.store.putBlobFile(join(bench.dir, "seed.zst"));
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      overrides: { source_subpath: "default/stage3-bootstrap" },
      seed: "seed/seed",
    });
    s.inputs = s.inputs.map((i) => (i.name === "seed" ? { ...i, path: "seed/seed" } : i));
    const { e } = await bench.failure(s, [], {
      seed: { digest: blob.digest, size: blob.size, kind: "file" },
    });
    assert.equal(e.code, "invalid_pipeline");
    assert.match(
      e.message,
      /^stage "stage1": the seed seed is zstd-compressed, which Catalyst cannot unpack \(it accepts xz, bzip2, gzip, squashfs and plain tar: \.tar\.bz2 /,
    );
  });

  void test("a catalyst version other than the required one is refused before building", async () => {
    const s = catalystStage("stage1", { spec: `${SPECS}/stage1-systemd-23.spec`, catalyst_version: "4.1.0" });
    const { e, log } = await bench.failure(s, ["--double-version", "4.0.3"]);
    assert.equal(e.code, "invalid_argument");
    assert.equal(e.message, 'stage "stage1" requires catalyst 4.1.0, but this agent has catalyst 4.0.3');
    assert.doesNotMatch(log, /rendered spec/);
  });

  void test("a seed named .tar.xz that is gzip is placed as .tar.gz (its content decides)", async () => {
    const root = join(bench.dir, "gz-seed-root");
    await mkdir(join(root, "etc"), { recursive: true });
    await writeFile(join(root, "etc/marker"), "gz\n");
    await run("tar", ["-C", root, "-czf", join(bench.dir, "gz-seed.tar.gz"), "."]);
    const blob = await bench.store.putBlobFile(join(bench.dir, "gz-seed.tar.gz"));
    const s = catalystStage("stage1", {
      spec: `${SPECS}/stage1-systemd-23.spec`,
      overrides: { source_subpath: "default/stage3-bootstrap" },
    });
    const { log } = await bench.run(s, { digest: blob.digest, size: blob.size, kind: "file" });
    assert.match(log, /the seed is named as \.tar\.xz but its content is \.tar\.gz: placed as \.tar\.gz/);
    assert.match(
      log,
      /seed seed\/seed\.tar\.xz placed at storedir\/builds\/default\/stage3-bootstrap\.tar\.gz$/m,
    );
  });

  void test("a rendered spec key its target does not take is refused before catalyst runs", async () => {
    const spec = `${SPECS}/installcd-stage2-minimal.spec`;
    const s = catalystStage("installcd-stage2", {
      spec,
      releng_edits: [{ file: spec, append: "livecd/isos: x.iso" }],
      overrides: { source_subpath: "default/stage3-bootstrap" },
    });
    const { e, log } = await bench.failure(s);
    assert.equal(e.code, "invalid_pipeline");
    assert.match(
      e.message,
      /Catalyst 4\.1\.1 would refuse the rendered spec:\nreleng\/releases\/specs\/amd64\/installcd-stage2-minimal\.spec:\d+: "livecd\/isos" is not a spec key of target livecd-stage2/,
    );
    assert.doesNotMatch(log, /running .*catalyst-double/);
  });

  void test("a cdtar only Catalyst master ships: 4.1.1 stops, and the error says which Catalyst it needs", async () => {
    const spec = `${SPECS}/installcd-stage2-minimal.spec`;
    const s = catalystStage(
      "installcd-stage2",
      {
        spec,
        releng_edits: [
          {
            file: spec,
            append: "livecd/cdtar: /usr/share/catalyst/livecd/cdtar/grub-theme-gentoo_frosted.tar.bz2",
          },
        ],
        overrides: { source_subpath: "default/stage3-bootstrap" },
      },
      "image.iso",
    );
    const { e } = await bench.failure(s, ["--double-version", "4.1.1"]);
    assert.equal(e.code, "stage_failed");
    assert.match(
      e.message,
      /Cannot locate specified cdtar: \/usr\/share\/catalyst\/livecd\/cdtar\/grub-theme-gentoo_frosted\.tar\.bz2/,
    );
    assert.match(
      e.message,
      /shipped only by Catalyst after 4\.1\.1 \(git master from 11967e5fb04b, dev-util\/catalyst-9999\)/,
    );
    const { result } = await bench.run(s, undefined, ["--double-version", "master"]);
    assert.ok(result.outputs["image"], "Catalyst master builds it");
  });

  void test("a snapshot archive of another commit than the treeish is refused", async () => {
    const repo = join(bench.dir, "other-repo");
    await mkdir(repo, { recursive: true });
    await writeFile(join(repo, "f"), "x\n");
    const git = (...a: string[]) => run("git", ["-C", repo, ...a]);
    await git("init", "-q");
    await git("add", ".");
    await git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "m");
    const commit = (await git("rev-parse", "HEAD")).stdout.trim();
    await git("archive", "--format=tar.gz", "-o", join(bench.dir, "other.tar.gz"), "HEAD");
    const blob = await bench.store.putBlobFile(join(bench.dir, "other.tar.gz"));
    const s = catalystStage("stage1", { spec: `${SPECS}/stage1-systemd-23.spec` });
    const { e } = await bench.failure(s, [], {
      snapshot: { digest: blob.digest, size: blob.size, kind: "file" },
    });
    assert.equal(e.code, "invalid_pipeline");
    assert.match(e.message, new RegExp(`the snapshot archive is of commit ${commit}, not of the treeish `));
  });
});
