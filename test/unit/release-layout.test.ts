/**
 * Releases without processes: the `release:` pipeline input (parsed, refused when combined or
 * misnamed, bound to a run's seeds), the served path grammar of `/releases/` (hostile paths name
 * nothing), and the DIGESTS and latest-*.txt formats.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { parseReleaseUrlPath } from "../../coordinator/releases/testing.js";
import { parsePipeline, resolvePipeline } from "../../shared/pipeline/index.js";
import { bindReleaseInputs, releaseName, extensionOf } from "../../shared/release/index.js";
import { digestSections, latestFileText, stampOf } from "../../shared/release/testing.js";
import { FILE, assertOneError } from "../helpers/pipeline-assert.js";

const SEEDED = (input: string): string => `stages:
  build:
    runner: shell
    inputs:
      seed: ${input}
    script: echo
    outputs: { out: out }
`;

void describe("release: inputs", () => {
  void test("parse to an artifact input without a digest, bound from the run's seeds", () => {
    const spec = parsePipeline(SEEDED("{ release: latest-stage3-amd64-openrc, path: seed.tar.xz }"), FILE);
    const input = spec.stages[0]?.inputs[0];
    assert.deepEqual(
      input && { t: input.t, release: input.t === "artifact" ? input.release : "", path: input.path },
      { t: "artifact", release: "latest-stage3-amd64-openrc", path: "seed.tar.xz" },
    );
    const unbound = resolvePipeline(spec, {})[0]?.inputs[0];
    assert.equal(unbound?.t === "artifact" ? unbound.digest : "?", "");
    const digest = "c".repeat(64);
    const bound = bindReleaseInputs(spec, [
      { stage: "build", input: "seed", release: "stage3-amd64-openrc", digest },
    ]);
    const resolved = resolvePipeline(bound, {})[0]?.inputs[0];
    assert.equal(resolved?.t === "artifact" ? resolved.digest : "?", digest);
    assert.throws(() => bindReleaseInputs(spec, []), /records no digest/);
  });

  void test("a bad name, or a release combined with another input form, is refused where written", () => {
    const bad = SEEDED('{ release: "../x" }');
    assertOneError(bad, '"../x"', 'input "seed" release: invalid release name "../x"');
    const both = SEEDED(`{ release: x, artifact: "${"a".repeat(64)}" }`);
    assertOneError(both, "release", '"artifact" and "release" cannot be combined');
    const sha = SEEDED(`{ release: x, sha256: "${"a".repeat(64)}" }`);
    assertOneError(sha, "sha256", '"sha256" belongs to a pinned source');
  });

  void test("names: latest- is optional, anything else outside the grammar is refused", () => {
    assert.equal(releaseName("latest-stage3-amd64-openrc"), "stage3-amd64-openrc");
    assert.equal(releaseName("install-amd64-minimal"), "install-amd64-minimal");
    for (const n of ["", "Stage3", "a.b", "a/b", "-x", "x".repeat(129)])
      assert.throws(() => releaseName(n), n);
  });
});

void describe("/releases/ paths", () => {
  void test("name a pointer file or a file of a stamp, built from validated names", () => {
    assert.deepEqual(parseReleaseUrlPath("/releases/amd64/autobuilds/latest-stage3-amd64-openrc.txt"), {
      t: "latest",
      arch: "amd64",
      name: "stage3-amd64-openrc",
    });
    assert.deepEqual(
      parseReleaseUrlPath(
        "/releases/amd64/autobuilds/20251207T170309Z/stage3-amd64-openrc-20251207T170309Z.tar.xz.DIGESTS",
      ),
      {
        t: "file",
        arch: "amd64",
        stamp: "20251207T170309Z",
        file: "stage3-amd64-openrc-20251207T170309Z.tar.xz.DIGESTS",
      },
    );
  });

  void test("hostile or foreign paths name nothing", () => {
    for (const p of [
      "/releases/",
      "/releases/amd64",
      "/releases/amd64/autobuilds",
      "/releases/amd64/autobuilds/",
      "/releases/.stagefarm/pointers/x.json",
      "/releases/amd64/autobuilds/../../.stagefarm/pointers/x.json",
      "/releases/amd64/autobuilds/%2e%2e/x",
      "/releases/amd64/autobuilds/s/..",
      "/releases/amd64/autobuilds/s/.hidden",
      "/releases/amd64/autobuilds/s/a%2fb",
      "/releases/amd64/autobuilds/s/a%5cb",
      "/releases/amd64/autobuilds/s/a%00.txt",
      "/releases/amd64/autobuilds/s/%E0%A4%A",
      "/releases/amd64/autobuilds/s/noextension",
      "/releases/amd64/autobuilds/s/f.txt/more",
      "/releases/AMD64/autobuilds/latest-x.txt",
      "/releases/amd64/other/latest-x.txt",
      "/releases/amd64/autobuilds/latest-.txt",
      "/releases/amd64/autobuilds/latest-x.txt.json",
      `/releases/amd64/autobuilds/s/${"a".repeat(1100)}.txt`,
    ])
      assert.equal(parseReleaseUrlPath(p), undefined, p);
  });
});

void describe("Gentoo's formats", () => {
  void test("DIGESTS: a BLAKE2B and a SHA512 section, as b2sum and sha512sum print", () => {
    const bytes = Buffer.from("hello\n");
    assert.equal(
      digestSections(bytes, "f.tar.xz"),
      `# BLAKE2B HASH\n${createHash("blake2b512").update(bytes).digest("hex")}  f.tar.xz\n` +
        `# SHA512 HASH\n${createHash("sha512").update(bytes).digest("hex")}  f.tar.xz\n`,
    );
  });

  void test("latest-*.txt: the date, ts=, then stamp/file size lines", () => {
    const at = new Date(Date.UTC(2025, 11, 7, 17, 3, 12));
    assert.equal(
      latestFileText(at, [
        { stamp: "20251207T170309Z", file: "stage3-amd64-openrc-20251207T170309Z.tar.xz", size: 285012345 },
      ]),
      "# Latest as of Sun, 07 Dec 2025 17:03:12 +0000\n# ts=1765126992\n20251207T170309Z/stage3-amd64-openrc-20251207T170309Z.tar.xz 285012345\n",
    );
    assert.equal(stampOf(at), "20251207T170312Z");
  });

  void test("a released file keeps its own extension", () => {
    assert.equal(extensionOf("stage3.tar.xz"), ".tar.xz");
    assert.equal(extensionOf("install.iso"), ".iso");
    assert.equal(extensionOf("rootfs.tar"), ".tar");
    assert.equal(extensionOf(".tar.xz"), undefined);
    assert.equal(extensionOf("notes.txt"), undefined);
  });
});
