/** The helpers kept once in shared/util: errnoOf, exists, readPem (fs.ts) and humanBytes (bytes.ts). */
import assert from "node:assert/strict";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { StagefarmError } from "../../shared/errors.js";
import { humanBytes } from "../../shared/util/bytes.js";
import { errnoOf, exists, readPem } from "../../shared/util/fs.js";

void describe("shared/util/fs", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-util-"));
    await writeFile(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\n");
    await symlink(join(dir, "nowhere"), join(dir, "dangling"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  void test("errnoOf reads the code of a failed system call and nothing else", () => {
    assert.equal(errnoOf(Object.assign(new Error("x"), { code: "EACCES" })), "EACCES");
    assert.equal(errnoOf(new Error("no code")), undefined);
    assert.equal(errnoOf({ code: 7 }), undefined);
    assert.equal(errnoOf("ENOENT"), undefined);
    assert.equal(errnoOf(null), undefined);
  });

  void test("exists: a file and a dangling symlink exist; a missing path, or one under a file, does not", async () => {
    assert.equal(await exists(join(dir, "ca.pem")), true);
    assert.equal(await exists(join(dir, "dangling")), true);
    assert.equal(await exists(join(dir, "missing")), false);
    assert.equal(await exists(join(dir, "ca.pem", "below")), false);
  });

  void test("readPem reads the file, or names it and what it is, with the errno's code", async () => {
    assert.equal((await readPem(join(dir, "ca.pem"), "CA")).toString(), "-----BEGIN CERTIFICATE-----\n");
    const missing = join(dir, "missing.pem");
    await assert.rejects(readPem(missing, "client certificate"), (e: unknown) => {
      assert.ok(e instanceof StagefarmError);
      assert.equal(e.code, "not_found");
      assert.match(e.message, new RegExp(`^cannot read client certificate ${missing}: ENOENT`));
      return true;
    });
    await assert.rejects(
      readPem(dir, "CA"),
      (e: unknown) => e instanceof StagefarmError && e.code === "invalid_argument",
    );
  });
});

void test("humanBytes: binary units, one decimal below 100, none above or for bytes", () => {
  assert.deepEqual(
    [0, 512, 1536, 100 * 1024, 5 * 2 ** 20 + 2 ** 19, 3 * 2 ** 40, 2 ** 52, Number.NaN].map(humanBytes),
    ["0 B", "512 B", "1.5 KiB", "100 KiB", "5.5 MiB", "3.0 TiB", "4096 TiB", "–"],
  );
});
