/**
 * `stagefarm diff` on ISO images: two ISOs (xorriso) each holding a boot file and a squashfs
 * (mksquashfs) of a demo-like root (test/helpers/diff-roots.ts). The squashfs's vdb groups its
 * files by package as in a plain tree. Without xorriso the command stops with an error naming
 * the packages to install (checked with a PATH that lacks it). The image tests need xorriso and
 * squashfs-tools and are skipped, visibly, where those are not installed.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { execa } from "execa";
import type { DiffReport } from "../../shared/diff/index.js";
import { cliPath, CliSandbox, repoRoot } from "../helpers/cli.js";
import { BASE, buildRoot } from "../helpers/diff-roots.js";

let scratch = "";

async function which(cmd: string): Promise<string | undefined> {
  const r = await execa("sh", ["-c", `command -v ${cmd}`], { reject: false });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

async function makeIso(dir: string, iso: string, root: string, boot: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await execa("mksquashfs", [root, join(dir, "image.squashfs"), "-quiet", "-noappend", "-all-root"]);
  await writeFile(join(dir, "boot.cfg"), boot);
  // The same boot file on both sides, mtime included (written a second apart it would differ).
  await utimes(join(dir, "boot.cfg"), 1_700_000_000, 1_700_000_000);
  await execa("xorriso", ["-as", "mkisofs", "-quiet", "-R", "-o", iso, dir]);
}

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "sf-diff-iso-"));
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

test("two ISOs: the squashfs inside is compared and grouped by its vdb", async (t) => {
  const missing = [];
  for (const cmd of ["xorriso", "mksquashfs", "unsquashfs"])
    if ((await which(cmd)) === undefined) missing.push(cmd);
  if (missing.length > 0) return t.skip(`needs ${missing.join(", ")} (xorriso, squashfs-tools)`);
  await buildRoot(join(scratch, "a"), BASE);
  await buildRoot(join(scratch, "b"), { ...BASE, toolMode: 0o700, extra: true });
  await makeIso(join(scratch, "iso-a"), join(scratch, "a.iso"), join(scratch, "a"), "boot\n");
  await makeIso(join(scratch, "iso-b"), join(scratch, "b.iso"), join(scratch, "b"), "boot\n");
  await using cli = await CliSandbox.create();
  const same = await cli.run(["diff", join(scratch, "a.iso"), join(scratch, "a.iso")]);
  assert.equal(same.code, 0, same.stdout + same.stderr);
  assert.match(same.stdout, /^identical: reproducible$/m);
  const r = await cli.run(["diff", "--json", join(scratch, "a.iso"), join(scratch, "b.iso")]);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as DiffReport;
  assert.deepEqual(
    report.packages.map((g) => [g.key, g.changes.map((c) => c.path)]),
    [["sys-apps/tool", ["image.squashfs.contents/usr/bin/tool"]]],
  );
  assert.deepEqual(
    report.unowned.changes.map((c) => `${c.t} ${c.path}`),
    [
      "differs image.squashfs",
      "only-b image.squashfs.contents/etc",
      "only-b image.squashfs.contents/etc/unowned.conf",
    ],
  );
});

test("an ISO without xorriso on the PATH is refused naming the packages to install", async () => {
  const bin = join(scratch, "bin-no-xorriso");
  await mkdir(bin, { recursive: true });
  for (const cmd of ["tar", "zstd", "xz", "gzip", "bzip2"]) {
    const at = await which(cmd);
    if (at !== undefined) await symlink(at, join(bin, cmd));
  }
  const iso = join(scratch, "fake.iso");
  const bytes = Buffer.alloc(40_000);
  bytes.write("CD001", 32769, "latin1");
  await writeFile(iso, bytes);
  const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [cliPath, "diff", iso, iso],
      { cwd: repoRoot, env: { PATH: bin, STAGEFARM_STORE: join(scratch, "store"), NO_COLOR: "1" } },
      (err, _stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : -1, stderr }),
    );
  });
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /comparing ISO images needs xorriso \(Debian: xorriso; Gentoo: dev-libs\/libisoburn\)/,
  );
  assert.match(r.stderr, /squashfs-tools/);
});
