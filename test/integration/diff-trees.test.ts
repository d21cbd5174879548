/**
 * `stagefarm diff` on two builds of a demo-like root (test/helpers/diff-roots.ts) that differ in
 * controlled ways: an embedded build timestamp in app-misc/hello's binary, a changed mode and
 * USE in sys-apps/tool, a file no package owns, and build-clock noise everywhere (mtimes, a
 * .pyc header, a gzip header, BUILD_TIME, CONTENTS mtimes). The CLI runs as a real process on
 * directories, .tar.zst and .tar.xz files, store digests and RUN:STAGE:OUTPUT names.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DiffReport, PathChange } from "../../shared/diff/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { CliSandbox } from "../helpers/cli.js";
import { BASE, buildRoot, tarRoot } from "../helpers/diff-roots.js";
import { hardlink, regular, writeTar } from "../helpers/tar-fixtures.js";

let scratch = "";
let cli: CliSandbox;
const A = { dir: "", zst: "", again: "" };
const B = { dir: "", xz: "" };

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "sf-diff-"));
  cli = await CliSandbox.create();
  A.dir = join(scratch, "a");
  A.again = join(scratch, "a-again");
  A.zst = join(scratch, "a.tar.zst");
  B.dir = join(scratch, "b");
  B.xz = join(scratch, "b.tar.xz");
  await buildRoot(A.dir, BASE);
  await buildRoot(A.again, BASE);
  await buildRoot(B.dir, {
    clock: BASE.clock + 3600,
    stamp: "built 2026-12-07T11:00:00Z",
    toolMode: 0o700,
    toolUse: "amd64",
    extra: true,
  });
  await tarRoot(A.dir, A.zst);
  await tarRoot(B.dir, B.xz);
});

after(async () => {
  await cli[Symbol.asyncDispose]();
  await rm(scratch, { recursive: true, force: true });
});

function parse(stdout: string): DiffReport {
  return JSON.parse(stdout) as DiffReport;
}

function paths(changes: readonly PathChange[]): string[] {
  return changes.map((c) => `${c.t === "differs" ? c.diffs.map((d) => d.attr).join("+") : c.t} ${c.path}`);
}

describe("stagefarm diff", () => {
  test("identical builds are reported reproducible, exit 0 (directory vs .tar.zst)", async () => {
    const r = await cli.run(["diff", A.again, A.zst]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^identical: reproducible$/m);
    const j = await cli.run(["diff", "--json", A.dir, A.again]);
    assert.equal(j.code, 0, j.stderr);
    const report = parse(j.stdout);
    assert.equal(report.identical, true);
    assert.ok(report.entries.a > 20 && report.entries.a === report.entries.b);
  });

  test("--normalize names exactly the packages and files that really differ", async () => {
    const r = await cli.run(["diff", "--json", "--normalize", A.zst, B.xz]);
    assert.equal(r.code, 1, r.stderr);
    const report = parse(r.stdout);
    assert.equal(report.identical, false);
    assert.deepEqual(
      report.packages.map((g) => [g.key, g.cpvA, g.cpvB, paths(g.changes)]),
      [
        [
          "app-misc/hello",
          "app-misc/hello-1",
          "app-misc/hello-1",
          ["content usr/bin/hello", "content var/db/pkg/app-misc/hello-1/CONTENTS"],
        ],
        [
          "sys-apps/tool",
          "sys-apps/tool-2",
          "sys-apps/tool-2",
          ["mode usr/bin/tool", "content+size var/db/pkg/sys-apps/tool-2/USE"],
        ],
      ],
    );
    const tool = report.packages[1];
    assert.deepEqual(tool?.vdb, [{ field: "USE", a: "amd64 ssl", b: "amd64" }]);
    const modeChange = tool?.changes[0];
    assert.ok(modeChange?.t === "differs");
    assert.deepEqual(modeChange.diffs, [{ attr: "mode", a: "0755", b: "0700" }]);
    assert.deepEqual(paths(report.unowned.changes), ["only-b etc", "only-b etc/unowned.conf"]);
    // The noise was recognised, counted and removed: python's .pyc, hello's gzip'd README,
    // every BUILD_TIME and the CONTENTS whose only change is the mtime column.
    assert.equal(report.normalized["pyc-timestamp"], 1);
    assert.equal(report.normalized["gzip-mtime"], 1);
    assert.equal(report.normalized["vdb-build-time"], 3);
    assert.equal(report.normalized["vdb-contents"], 2, "hello's CONTENTS has a real md5 change");
    assert.ok((report.normalized.mtime ?? 0) > 10);
  });

  test("without --normalize the noise is shown and labelled, and the summary comes first", async () => {
    const r = await cli.run(["diff", A.dir, B.dir]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.split("\n");
    assert.match(lines[2] ?? "", /^3 packages differ: app-misc\/hello-1 \(\d+ files: [^)]*content/);
    assert.match(lines[2] ?? "", /dev-lang\/python-3\.12\.8 \(\d+ files: [^)]*\.pyc timestamps/);
    assert.match(lines[2] ?? "", /sys-apps\/tool-2 \([^)]*mode[^)]*; USE\)/);
    assert.match(lines[2] ?? "", /paths? owned by no package/);
    assert.match(
      r.stdout,
      /~ usr\/share\/hello\/my file with spaces\.txt: mtime 1700000000 → 1700003600 \[mtimes\]/,
    );
    assert.match(
      r.stdout,
      /~ usr\/share\/doc\/hello-1\/README\.gz: content \w+ → \w+ \[gzip header mtimes\]/,
    );
    assert.match(r.stdout, /vdb USE: amd64 ssl → amd64/);
    assert.match(r.stdout, /\+ etc\/unowned\.conf {2}\(file, only in B\)/);
    // A path with spaces is owned through its CONTENTS line, like any other.
    const j = await cli.run(["diff", "--json", A.dir, B.dir]);
    const hello = parse(j.stdout).packages.find((g) => g.key === "app-misc/hello");
    assert.ok(hello?.changes.some((c) => c.path === "usr/share/hello/my file with spaces.txt"));
  });

  test("store digests and RUN:STAGE:OUTPUT resolve against the local store", async () => {
    const storeDir = join(cli.dir, "store");
    const store = await FsArtifactStore.open(storeDir);
    let digests: { a: string; b: string };
    try {
      const a = await store.putBlobFile(A.zst);
      const b = await store.putBlobFile(B.xz);
      digests = { a: a.digest, b: b.digest };
      await store.putLog("logs/r20261207-100000-abcd/rootfs/1.log", "built\n");
      await store.putManifest({
        v: 1,
        key: "f".repeat(64),
        pipeline: "demo",
        stage: "rootfs",
        runner: "shell",
        outputs: { root: { digest: a.digest, size: a.size, kind: "tree" } },
        log: "logs/r20261207-100000-abcd/rootfs/1.log",
        createdAt: new Date(0).toISOString(),
        durationMs: 1,
        producer: "local",
      });
    } finally {
      await store.close();
    }
    const r = await cli.run([
      "diff",
      "r20261207-100000-abcd:rootfs:root",
      `sha256:${digests.a.slice(0, 12)}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^A: r20261207-100000-abcd:rootfs:root \(sha256:/);
    const d = await cli.run(["diff", "--json", "--normalize", digests.a, digests.b]);
    assert.equal(d.code, 1, d.stderr);
    assert.deepEqual(
      parse(d.stdout).packages.map((g) => g.key),
      ["app-misc/hello", "sys-apps/tool"],
    );
    const missing = await cli.run(["diff", "r20261207-100000-abcd:rootfs:nope", A.zst]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /has no output "nope" \(it has: root\)/);
    const unknown = await cli.run(["diff", "no-such-thing", A.zst]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /is not a file, a directory, a store digest or RUN:STAGE:OUTPUT/);
  });

  test("hardlinked names compare by their sets, not by which name the archive stored first", async () => {
    const one = join(scratch, "links-1.tar");
    const two = join(scratch, "links-2.tar");
    const three = join(scratch, "links-3.tar");
    await writeTar(one, [regular("a", "x"), hardlink("b", "a"), hardlink("c", "b")]);
    await writeTar(two, [regular("c", "x"), hardlink("a", "c"), hardlink("b", "a")]);
    await writeTar(three, [regular("a", "x"), regular("b", "x"), regular("c", "x")]);
    const same = await cli.run(["diff", one, two]);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    const r = await cli.run(["diff", "--json", one, three]);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(
      parse(r.stdout).unowned.changes,
      ["a", "b", "c"].map((path) => ({ t: "differs", path, diffs: [{ attr: "hardlink", a: "a", b: "" }] })),
    );
  });
});
