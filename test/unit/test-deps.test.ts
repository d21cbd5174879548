/**
 * scripts/test-deps.mjs, the first step of `npm test`: with tools missing and no root, it names
 * the packages and prints the exact apt-get line, and the tests do not start.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";

const script = resolve("scripts/test-deps.mjs");

function which(cmd: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

test("with tools missing and no root, test-deps prints the exact apt-get line and fails", (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root to drop to another user");
  const dir = mkdtempSync(join(tmpdir(), "test-deps-"));
  chmodSync(dir, 0o755); // the dropped user must be able to search it
  // The checkout may sit where that user cannot read: run a copy.
  const copy = join(dir, "test-deps.mjs");
  copyFileSync(script, copy);
  chmodSync(copy, 0o644);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A PATH with only the demo's tools and apt-get: everything the suite adds is missing.
  for (const cmd of ["tar", "zstd", "xz", "bzip2", "gzip", "gcc", "make", "apt-get"]) {
    const at = which(cmd);
    if (at !== undefined) symlinkSync(at, join(dir, cmd));
  }
  const r = spawnSync(
    "setpriv",
    ["--reuid=65534", "--regid=65534", "--clear-groups", "env", `PATH=${dir}`, process.execPath, copy],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /missing: .*nats-server/);
  assert.match(
    r.stderr,
    /^ {2}apt-get update && apt-get install -y attr libcap2-bin nats-server debootstrap util-linux bsdutils prometheus chromium systemd xorriso squashfs-tools$/m,
  );
});

test("with every tool present, test-deps does nothing and succeeds", () => {
  const r = spawnSync(process.execPath, [script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
});
