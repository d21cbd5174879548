/**
 * The cache key of a catalyst stage: it changes whenever the rendered spec, the releng checkout
 * (confdir), the seed, the snapshot or the required catalyst version would change, and not for
 * YAML formatting. Where the spec is concerned, each case also renders the real template to show
 * the spec itself differs (so no case passes vacuously).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { applyRelengEdit, renderSpec } from "../../shared/catalyst/index.js";
import { computeCacheKey } from "../../shared/cache-key/index.js";
import { sha256, type Digest } from "../../shared/digest.js";
import {
  parsePipeline,
  resolvePipeline,
  type ArtifactRef,
  type ResolvedStage,
} from "../../shared/pipeline/index.js";
import { datestampOf, parseCatalystWith } from "../../shared/runner-config/testing.js";
import { readFixture } from "../helpers/catalyst-releng.js";

const RELENG: ArtifactRef = { digest: sha256("releng tree"), size: 1, kind: "tree" };
const SEED: ArtifactRef = { digest: sha256("seed tarball"), size: 1, kind: "file" };
const SNAP: ArtifactRef = { digest: sha256("snapshot"), size: 1, kind: "file" };
const INPUTS = { releng: RELENG, seed: SEED, snapshot: SNAP };

const BASE = `pipeline: release
platform: linux/x86_64
stages:
  sources:
    runner: shell
    script: make-sources
    outputs:
      releng: releng
      seed: seed.tar.xz
      snapshot: gentoo.sqfs
  stage1:
    runner: catalyst
    requires: [catalyst]
    inputs:
      releng: { from: sources.releng, path: releng }
      seed: { from: sources.seed, path: seed/stage3-bootstrap.tar.xz }
      snapshot: { from: sources.snapshot, path: snapshot/gentoo.sqfs }
    outputs:
      build: build
      image: image.tar.xz
    with:
      spec: releases/specs/amd64/stage1-systemd-23.spec
      seed: seed/stage3-bootstrap.tar.xz
      snapshot: snapshot/gentoo.sqfs
      treeish: d55448fdd9e8e82386e9b121e4b637b03e59a0f8
      timestamp: 20250612T101500Z
      releng_edits:
        - file: releases/portage/stages/package.mask/releng/rust
          replace_line: [{ match: "^dev-lang/rust$", with: dev-lang/rust-bin }]
      overrides:
        source_subpath: default/stage3-bootstrap
      catalyst_conf:
        options: [pkgcache]
      catalyst_version: 4.1.0
`;

function resolved(text: string): ResolvedStage {
  const s = resolvePipeline(parsePipeline(text, "pipelines/release/pipeline.yaml"), {}).find(
    (x) => x.name === "stage1",
  );
  return s ?? assert.fail("no stage1");
}

function keyOf(text: string, inputs: Record<string, ArtifactRef> = INPUTS): Digest {
  return computeCacheKey(resolved(text), inputs);
}

function edit(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `"${from}" not in the text`);
  return text.replace(from, to);
}

/** The spec text and the edited files the stage's `with` makes from the real releng fixture. */
async function rendering(text: string): Promise<string> {
  const w = parseCatalystWith(resolved(text));
  const files: string[] = [];
  for (const [index, e] of w.releng_edits.entries()) {
    const r = applyRelengEdit(await readFixture(e.file).catch(() => undefined), e, {
      stage: "stage1",
      index,
    });
    files.push(`${e.file}:${r.t === "write" ? r.text : "(removed)"}`);
  }
  const spec = renderSpec({
    template: await readFixture(w.spec),
    file: w.spec,
    vars: {
      TIMESTAMP: w.timestamp ?? "",
      DATESTAMP: datestampOf(w, w.timestamp ?? ""),
      REPO_DIR: "/r",
      TREEISH: w.treeish,
    },
    overrides: w.overrides,
  });
  return [spec.text, ...files].join("\n--\n");
}

const base = keyOf(BASE);

void describe("catalyst cache key changes when the rendered spec would change", () => {
  const iso = edit(BASE, "stage1-systemd-23.spec", "installcd-stage2-minimal.spec");
  const cases: Array<[string, string, string?]> = [
    ["timestamp", edit(BASE, "timestamp: 20250612T101500Z", "timestamp: 20250613T000000Z")],
    ["treeish", edit(BASE, "treeish: d55448fd", "treeish: e55448fd")],
    [
      "datestamp (installcd-stage2's volume id)",
      edit(iso, "      timestamp:", '      datestamp: "20990101"\n      timestamp:'),
      iso,
    ],
    [
      "override value",
      edit(BASE, "source_subpath: default/stage3-bootstrap", "source_subpath: default/stage3-other"),
    ],
    [
      "an added override",
      edit(BASE, "      overrides:\n", "      overrides:\n        version_stamp: custom\n"),
    ],
    ["spec template", edit(BASE, "stage1-systemd-23.spec", "stage1-openrc-23.spec")],
    ["edit replacement", edit(BASE, "with: dev-lang/rust-bin }", "with: dev-lang/rust-bin-9 }")],
    [
      "an added edit",
      edit(
        BASE,
        "      overrides:\n",
        '        - file: releases/portage/stages/profile/packages.build\n          content: "dev-lang/rust\\n"\n      overrides:\n',
      ),
    ],
  ];
  for (const [what, variant, from = BASE] of cases)
    void test(what, async () => {
      assert.notEqual(
        await rendering(variant),
        await rendering(from),
        "the rendered spec or releng files differ",
      );
      assert.notEqual(keyOf(variant), keyOf(from));
    });
});

void describe("catalyst cache key changes with its inputs and tool", () => {
  const cases: Array<[string, () => Digest]> = [
    ["seed digest", () => keyOf(BASE, { ...INPUTS, seed: { ...SEED, digest: sha256("other seed") } })],
    [
      "releng (confdir) digest",
      () => keyOf(BASE, { ...INPUTS, releng: { ...RELENG, digest: sha256("releng 2") } }),
    ],
    [
      "snapshot digest",
      () => keyOf(BASE, { ...INPUTS, snapshot: { ...SNAP, digest: sha256("snapshot 2") } }),
    ],
    ["catalyst_version", () => keyOf(edit(BASE, "catalyst_version: 4.1.0", "catalyst_version: 4.1.1"))],
    ["catalyst_conf", () => keyOf(edit(BASE, "options: [pkgcache]", "options: [pkgcache, keepwork]"))],
  ];
  for (const [what, variant] of cases)
    void test(what, () => {
      assert.notEqual(variant(), base);
    });
});

void describe("catalyst cache key stays the same for YAML formatting", () => {
  void test("with keys reordered, flow style, comments", async () => {
    const reordered = edit(
      BASE,
      BASE.slice(BASE.indexOf("    with:\n")),
      `    with: # the build
      catalyst_version: "4.1.0"
      catalyst_conf: { options: ["pkgcache"] }
      overrides: { source_subpath: "default/stage3-bootstrap" }
      releng_edits:
        # mask rust-bin
        - replace_line:
            - with: "dev-lang/rust-bin"
              match: "^dev-lang/rust$"
          file: "releases/portage/stages/package.mask/releng/rust"
      timestamp: "20250612T101500Z"
      treeish: "d55448fdd9e8e82386e9b121e4b637b03e59a0f8"

      snapshot: snapshot/gentoo.sqfs
      seed: seed/stage3-bootstrap.tar.xz
      spec: releases/specs/amd64/stage1-systemd-23.spec
`,
    );
    assert.notEqual(reordered, BASE);
    assert.equal(await rendering(reordered), await rendering(BASE));
    assert.equal(keyOf(reordered), base);
  });
});
