/**
 * `stagefarm binhost ls|show|rm|gc|conf|set` as a real process on the embedded store, human
 * output and --json, against a binhost published to that store in the test.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BinhostService } from "../../coordinator/index.js";
import { parsePackages } from "../../shared/binhost/index.js";
import { silentLogger } from "../../shared/log.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { quickGpkg } from "../helpers/binhost-harness.js";
import { CliSandbox, lastJsonLine } from "../helpers/cli.js";

void test("stagefarm binhost: ls, show, conf, set, gc (dry run = real), rm, and clear errors", async () => {
  await using sb = await CliSandbox.create();
  // Publish into the sandbox's store as a farm would.
  {
    const store = await FsArtifactStore.open(join(sb.dir, "store"));
    const service = new BinhostService({ store, logger: silentLogger() });
    const refs = [];
    for (const [i, pf] of ["libsigc++-2.12.1", "libsigc++-2.12.1", "expat-2.6.2"].entries()) {
      const file = await quickGpkg(join(sb.dir, `p${i}`), {
        category: "dev-libs",
        pf,
        buildId: 1,
        buildTime: 1_700_000_000 + i,
        files: { n: String(i) },
      });
      const b = await store.putBlobFile(file);
      refs.push({ digest: b.digest, size: b.size, stage: "boot/world", agent: "a1" });
    }
    await service.publish("amd64", refs);
    await service.close();
    await store.close();
  }

  const ls = await sb.run(["binhost", "ls"]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^amd64\s+3 packages\s+.+updated \d{4}-\d\d-\d\dT/m);
  assert.match(ls.stdout, /^1 binhost\(s\) in local store fs:/m);
  assert.match(ls.stderr, /^stagefarm binhost: local store fs:/m);
  const lsJson = lastJsonLine((await sb.run(["binhost", "ls", "--json"])).stdout);
  assert.equal(lsJson.name, "amd64");
  assert.equal(lsJson.packages, 3);

  const show = await sb.run(["binhost", "show", "amd64"]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(
    show.stdout,
    /^ {2}dev-libs\/libsigc\+\+\/libsigc\+\+-2\.12\.1-2\.gpkg\.tar .* by boot\/world on a1$/m,
  );
  assert.match(show.stdout, /^ {2}VERSION: 0$/m);
  const showJson = lastJsonLine((await sb.run(["binhost", "show", "amd64", "--json"])).stdout);
  assert.equal((showJson.entries as unknown[]).length, 3);

  const set = await sb.run([
    "binhost",
    "set",
    "amd64",
    "--header",
    "ARCH=amd64",
    "--verify-signature",
    "yes",
    "--priority",
    "50",
  ]);
  assert.equal(set.code, 0, set.stderr);
  const conf = await sb.run(["binhost", "conf", "amd64", "--url", "http://farm.example:9464"]);
  assert.equal(conf.code, 0, conf.stderr);
  assert.equal(
    conf.stdout,
    "[amd64]\npriority = 50\nsync-uri = http://farm.example:9464/binhost/amd64\nverify-signature = true\n",
  );
  const afterSet = await sb.run(["binhost", "show", "amd64"]);
  assert.match(afterSet.stdout, /^ {2}ARCH: amd64$/m);

  const dry = await sb.run(["binhost", "gc", "amd64", "--keep", "1", "--dry-run", "--json"]);
  assert.equal(dry.code, 0, dry.stderr);
  const dryReport = lastJsonLine(dry.stdout);
  assert.deepEqual(
    (dryReport.removed as Array<{ path: string }>).map((c) => c.path),
    ["dev-libs/libsigc++/libsigc++-2.12.1-1.gpkg.tar"],
  );
  const human = await sb.run(["binhost", "gc", "amd64", "--dry-run"]);
  assert.match(
    human.stdout,
    /^would remove dev-libs\/libsigc\+\+\/libsigc\+\+-2\.12\.1-1\.gpkg\.tar \(dev-libs\/libsigc\+\+-2\.12\.1, BUILD_ID 1, /m,
  );
  const real = lastJsonLine((await sb.run(["binhost", "gc", "amd64", "--keep", "1", "--json"])).stdout);
  assert.deepEqual(real.removed, dryReport.removed);

  const rm = await sb.run(["binhost", "rm", "amd64", "dev-libs/expat-2.6.2"]);
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stdout, /^removed dev-libs\/expat\/expat-2\.6\.2-1\.gpkg\.tar$/m);
  const store = await FsArtifactStore.open(join(sb.dir, "store"));
  try {
    const chunks: Buffer[] = [];
    for await (const c of await store.getObject("binhost/amd64/Packages")) chunks.push(c as Buffer);
    const index = parsePackages(Buffer.concat(chunks).toString("utf8"));
    assert.deepEqual(
      index.packages.map((p) => p.PATH),
      ["dev-libs/libsigc++/libsigc++-2.12.1-2.gpkg.tar"],
    );
    assert.equal(index.header.ARCH, "amd64");
  } finally {
    await store.close();
  }

  // Errors: not found (1), bad input (2), each named.
  const missing = await sb.run(["binhost", "show", "nope"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no binhost "nope"/);
  const badRm = await sb.run(["binhost", "rm", "amd64", "dev-libs/none-1"]);
  assert.equal(badRm.code, 1);
  assert.match(badRm.stderr, /has no package with PATH or CPV "dev-libs\/none-1"/);
  const unknownConf = await sb.run(["binhost", "conf", "nope"]);
  assert.equal(unknownConf.code, 1, unknownConf.stdout);
  assert.equal(unknownConf.stdout, "", "no stanza for a binhost that does not exist");
  assert.match(unknownConf.stderr, /no binhost "nope"/);
  const badName = await sb.run(["binhost", "conf", "Bad_Name"]);
  assert.equal(badName.code, 2);
  assert.match(badName.stderr, /is not a binhost name/);
  const badKeep = await sb.run(["binhost", "gc", "amd64", "--keep", "0"]);
  assert.equal(badKeep.code, 2);
  const badHeader = await sb.run(["binhost", "set", "amd64", "--header", "TIMESTAMP=1"]);
  assert.equal(badHeader.code, 2);
  assert.match(badHeader.stderr, /TIMESTAMP is set by the binhost itself/);
});

void test("stagefarm binhost publish on the local store: packages added, duplicates reported, refusals name the file", async () => {
  await using sb = await CliSandbox.create();
  const a = await quickGpkg(join(sb.dir, "in"), { category: "dev-libs", pf: "expat-2.6.2", buildId: 1 });
  const b = await quickGpkg(join(sb.dir, "in2"), {
    category: "dev-libs",
    pf: "expat-2.6.2",
    buildId: 1,
    files: { x: "2" },
  });
  const pub = await sb.run(["binhost", "publish", a, b, "--binhost", "ops"]);
  assert.equal(pub.code, 0, pub.stderr);
  assert.match(pub.stderr, /^stagefarm binhost: local store fs:/m);
  assert.ok(pub.stdout.includes(`published ${a} as dev-libs/expat/expat-2.6.2-1.gpkg.tar`), pub.stdout);
  assert.ok(pub.stdout.includes(`published ${b} as dev-libs/expat/expat-2.6.2-2.gpkg.tar`), pub.stdout);
  assert.match(pub.stdout, /renumbered from BUILD_ID 1/);
  const again = lastJsonLine((await sb.run(["binhost", "publish", a, "--binhost", "ops", "--json"])).stdout);
  const [dup] = again.packages as Array<{ duplicate: boolean; path: string; file: string }>;
  assert.equal(dup?.duplicate, true);
  assert.equal(dup?.file, a);
  assert.equal(again.total, 2);

  // Not a package, truncated, missing: refused naming the file, nothing published.
  const junk = join(sb.dir, "junk.gpkg.tar");
  await writeFile(junk, "not a package\n".repeat(100));
  const trunc = join(sb.dir, "trunc.gpkg.tar");
  await writeFile(trunc, (await readFile(a)).subarray(0, 3000));
  for (const bad of [junk, trunc]) {
    const r = await sb.run(["binhost", "publish", b, bad, "--binhost", "ops"]);
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes(`cannot publish ${bad}: `), r.stderr);
    assert.doesNotMatch(r.stderr, /sha256:[0-9a-f]{12}/);
  }
  const missing = await sb.run(["binhost", "publish", join(sb.dir, "nope.gpkg.tar"), "--binhost", "ops"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot publish .*nope\.gpkg\.tar: no such file/);
  const shown = lastJsonLine((await sb.run(["binhost", "show", "ops", "--json"])).stdout);
  assert.equal(shown.packages, 2);

  // Only an S3 store named: changes are refused (the coordinator is the single writer).
  const s3 = await sb.run([
    "binhost",
    "rm",
    "ops",
    "dev-libs/expat-2.6.2",
    "--s3",
    "http://k:s@127.0.0.1:1/b",
  ]);
  assert.equal(s3.code, 2);
  assert.match(s3.stderr, /changed by its coordinator .*pass --coordinator/);
});
