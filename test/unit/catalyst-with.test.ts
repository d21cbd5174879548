/** The catalyst stage's `with` block (shared/runner-config/catalyst.ts) and catalyst.conf rendering. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parse as parseToml } from "smol-toml";
import { renderCatalystConf } from "../../shared/catalyst/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ResolvedStage } from "../../shared/pipeline/index.js";
import { datestampOf, parseCatalystWith } from "../../shared/runner-config/testing.js";

function stage(w: Record<string, unknown>): ResolvedStage {
  return {
    pipeline: "p",
    name: "stage1",
    runner: "catalyst",
    requires: [],
    inputs: [],
    outputs: [],
    env: {},
    sources: [],
    with: w,
    timeoutMs: 0,
    retries: 0,
    clampMtime: false,
    platform: "linux/x86_64",
    paramsUsed: [],
  };
}

const MINIMAL = {
  spec: "releases/specs/amd64/stage1-systemd-23.spec",
  snapshot: "snapshot/gentoo.sqfs",
  treeish: "d55448fdd9e8e82386e9b121e4b637b03e59a0f8",
  timestamp: "20250612T101500Z",
};

function invalid(w: Record<string, unknown>, ...parts: RegExp[]): void {
  assert.throws(
    () => parseCatalystWith(stage(w)),
    (e: unknown) =>
      e instanceof StagefarmError &&
      e.code === "invalid_pipeline" &&
      e.message.startsWith('stage "stage1" (runner catalyst): ') &&
      parts.every((p) => p.test(e.message)),
  );
}

void describe("parseCatalystWith", () => {
  void test("applies defaults", () => {
    const w = parseCatalystWith(stage(MINIMAL));
    assert.equal(w.releng, "releng");
    assert.deepEqual(w.releng_edits, []);
    assert.deepEqual(w.overrides, {});
    assert.deepEqual(w.catalyst_conf, {});
    assert.equal(w.seed, undefined);
    assert.equal(datestampOf(w, w.timestamp ?? ""), "20250612");
    const own = parseCatalystWith(stage({ ...MINIMAL, datestamp: "20250101" }));
    assert.equal(datestampOf(own, own.timestamp ?? ""), "20250101");
  });

  void test("accepts the procedure's stage", () => {
    const w = parseCatalystWith(
      stage({
        ...MINIMAL,
        seed: "seed/stage3-bootstrap.tar.xz",
        releng_edits: [
          {
            file: "releases/portage/stages/package.mask/releng/rust",
            replace_line: [{ match: "^dev-lang/rust$", with: "dev-lang/rust-bin" }],
          },
          { file: "releases/portage/stages/profile/packages.build", content: "dev-lang/rust\n" },
        ],
        overrides: { source_subpath: "default/stage3-bootstrap", "livecd/unmerge": ["a", "b"] },
        catalyst_conf: { options: ["pkgcache"], jobs: 8, "load-average": 9.5, binhost: "" },
        catalyst_version: "4.1.0",
      }),
    );
    assert.equal(w.releng_edits.length, 2);
    assert.equal(w.catalyst_conf["jobs"], 8);
  });

  void test("names the stage and the key path of every problem", () => {
    invalid({ ...MINIMAL, bogus: 1 }, /with: Unrecognized key: "bogus"/);
    invalid({ ...MINIMAL, snapshot: undefined }, /with\.snapshot: /);
    invalid({ ...MINIMAL, spec: "../../etc/passwd" }, /with\.spec: must stay inside the releng checkout/);
    invalid({ ...MINIMAL, seed: "/var/tmp/seed.tar.xz" }, /with\.seed: must be relative to the workspace/);
    invalid({ ...MINIMAL, treeish: "abc def" }, /with\.treeish: treeish must be one word/);
    invalid(
      { ...MINIMAL, releng_edits: [{ file: "a", append: "x", remove: true }] },
      /with\.releng_edits\[0\]: needs exactly one of replace, replace_line, append, ensure_line, content, remove \(got append, remove\)/,
    );
    invalid(
      { ...MINIMAL, releng_edits: [{ file: "a", replace_line: [{ match: "(", with: "x" }] }] },
      /with\.releng_edits\[0\]\.replace_line\[0\]\.match: not a valid regular expression/,
    );
    invalid(
      { ...MINIMAL, releng_edits: [{ file: "a", replace: [] }] },
      /with\.releng_edits\[0\]\.replace: needs at least one/,
    );
    invalid(
      { ...MINIMAL, overrides: { version_stamp: "a # b" } },
      /with\.overrides\.version_stamp: values must not contain "#"/,
    );
    invalid(
      { ...MINIMAL, catalyst_conf: { storedirr: "/x" } },
      /with\.catalyst_conf\.storedirr: "storedirr" is not a catalyst\.conf setting \(did you mean "storedir"\?\)/,
    );
    invalid(
      { ...MINIMAL, timestamp: "snapshot" },
      /with\.datestamp: cannot be derived from timestamp "snapshot"/,
    );
  });
});

void describe("renderCatalystConf", () => {
  void test("merges the stage's data over the runner defaults and forces storedir", () => {
    const conf = renderCatalystConf({
      pipeline: { options: ["pkgcache", "keepwork"], jobs: 8, storedir: "/var/tmp/catalyst" },
      defaults: { digests: ["blake2b", "sha512"], options: ["pkgcache"], jobs: 2 },
      forced: { storedir: "/var/lib/stagefarm/work/ws/.stagefarm/catalyst/store" },
    });
    assert.deepEqual(JSON.parse(JSON.stringify(parseToml(conf.text))), {
      digests: ["blake2b", "sha512"],
      jobs: 8,
      options: ["pkgcache", "keepwork"],
      storedir: "/var/lib/stagefarm/work/ws/.stagefarm/catalyst/store",
    });
    assert.deepEqual(conf.forced, [
      {
        key: "storedir",
        value: "/var/lib/stagefarm/work/ws/.stagefarm/catalyst/store",
        overridden: "/var/tmp/catalyst",
      },
    ]);
    assert.match(conf.text, /^# catalyst.conf written by stagefarm/);
  });

  void test("a key catalyst does not know is refused", () => {
    assert.throws(
      () => renderCatalystConf({ pipeline: { sharedirr: "/x" }, forced: {} }),
      /catalyst_conf\.sharedirr: "sharedirr" is not a catalyst.conf setting \(did you mean "sharedir"\?\)/,
    );
  });
});
