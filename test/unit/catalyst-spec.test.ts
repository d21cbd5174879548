/** Catalyst spec syntax (shared/catalyst/spec.ts) and per-stage overrides (overrides.ts). */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { specLayout } from "../../shared/catalyst/index.js";
import {
  applySpecOverrides,
  parseSpec,
  serializeSpec,
  specSettings,
  type SpecValue,
} from "../../shared/catalyst/testing.js";
import { StagefarmError } from "../../shared/errors.js";

const SPEC = `# a comment line
subarch: amd64
target: stage1   # trailing comment
version_stamp: "systemd-2025"

update_seed_command: --update --deep --newuse @world
livecd/packages:
\tapp-arch/bzip2
\tapp-arch/cpio   # comment after a value
  app-editors/vim
livecd/rm: /etc/*- /etc/*.old
\t/usr/bin/*.static
empty_key:
rel_type: 23.0-default
rel_type: default
`;

const settings = (text: string): Map<string, SpecValue> => specSettings(parseSpec(text, "t.spec"));

void describe("parseSpec", () => {
  void test("reads key: value lines, comments, blank lines, quotes and continuation lines as Catalyst does", () => {
    const s = settings(SPEC);
    assert.equal(s.get("subarch"), "amd64");
    assert.equal(s.get("target"), "stage1", "a trailing comment is dropped");
    assert.equal(s.get("version_stamp"), "systemd-2025", "surrounding double quotes are removed");
    assert.deepEqual(s.get("update_seed_command"), ["--update", "--deep", "--newuse", "@world"]);
    assert.deepEqual(s.get("livecd/packages"), ["app-arch/bzip2", "app-arch/cpio", "app-editors/vim"]);
    assert.deepEqual(s.get("livecd/rm"), ["/etc/*-", "/etc/*.old", "/usr/bin/*.static"]);
    assert.equal(s.has("empty_key"), false, "a key without values is dropped");
    assert.equal(s.get("rel_type"), "default", "the last entry of a key wins");
  });

  void test("keeps each entry's lines for errors and edits", () => {
    const doc = parseSpec(SPEC, "t.spec");
    const pkgs = doc.entries.find((e) => e.key === "livecd/packages");
    assert.deepEqual(pkgs && { line: pkgs.line, endLine: pkgs.endLine, inline: pkgs.inlineCount }, {
      line: 7,
      endLine: 10,
      inline: 0,
    });
  });

  void test("a continuation line holding a colon starts a new key, as in Catalyst", () => {
    const s = settings("livecd/packages:\n\tdev-lang/python:3.12\n\tapp-misc/mc\n");
    assert.equal(s.has("livecd/packages"), false);
    assert.deepEqual(s.get("dev-lang/python"), ["3.12", "app-misc/mc"]);
  });

  void test("a value line before any key is an error naming file and line", () => {
    assert.throws(
      () => parseSpec("# header\n\torphan\nkey: v\n", "x.spec"),
      (e: unknown) =>
        e instanceof StagefarmError && e.message.startsWith("x.spec:2: a value line before any"),
    );
  });

  void test("serializeSpec writes what parseSpec reads back", () => {
    const doc = parseSpec(SPEC, "t.spec");
    const text = serializeSpec(doc.entries);
    assert.deepEqual(settings(text), settings(SPEC));
    assert.match(text, /^livecd\/packages:\n\tapp-arch\/bzip2\n\tapp-arch\/cpio\n\tapp-editors\/vim\n/m);
    assert.match(text, /^livecd\/rm: \/etc\/\*- \/etc\/\*\.old\n\t\/usr\/bin\/\*\.static\n/m);
  });
});

void describe("applySpecOverrides", () => {
  const base =
    "subarch: amd64\nsource_subpath: 23.0-default/stage3-amd64-latest\n\nlivecd/unmerge:\n\ta\n\tb\n# end\n";

  void test("replaces a key in place, keeping the rest of the text", () => {
    const out = applySpecOverrides(base, { source_subpath: "default/stage3-bootstrap" }, "t.spec");
    assert.equal(out, base.replace("23.0-default/stage3-amd64-latest", "default/stage3-bootstrap"));
  });

  void test("replaces a multi-line value with a list, and adds keys the spec lacks", () => {
    const out = applySpecOverrides(
      base,
      { "livecd/unmerge": ["x", "y", "z"], version_stamp: "v1" },
      "t.spec",
    );
    assert.equal(
      out,
      "subarch: amd64\nsource_subpath: 23.0-default/stage3-amd64-latest\n\nlivecd/unmerge:\n\tx\n\ty\n\tz\n# end\nversion_stamp: v1\n",
    );
    assert.deepEqual(settings(out).get("livecd/unmerge"), ["x", "y", "z"]);
  });

  void test("removes later entries of an overridden key so the override wins", () => {
    const out = applySpecOverrides("cflags: 1\nb: 2\ncflags: 3\n", { cflags: "9" }, "t.spec");
    assert.equal(out, "cflags: 9\nb: 2\n");
  });

  void test("refuses values Catalyst would read differently", () => {
    for (const [value, why] of [
      ["x # y", /"#"/],
      ["two\nlines", /one line/],
      ["", /empty/],
    ] as const)
      assert.throws(
        () => applySpecOverrides(base, { version_stamp: value }, "t.spec"),
        (e: unknown) => e instanceof StagefarmError && why.test(e.message),
      );
    assert.throws(() => applySpecOverrides(base, { "bad key": "v" }, "t.spec"), /not a spec key/);
  });
});

void describe("specLayout", () => {
  const spec = (extra = ""): Map<string, SpecValue> =>
    settings(
      `subarch: amd64\ntarget: stage3\nversion_stamp: systemd-T\nrel_type: 23.0-default\nsnapshot_treeish: abc\n${extra}`,
    );

  void test("names the result Catalyst writes", () => {
    const l = specLayout(spec("source_subpath: 23.0-default/stage1-amd64-systemd-T\n"), "t.spec");
    assert.equal(l.resultBase, "stage3-amd64-systemd-T");
    assert.equal(l.sourceSubpath, "23.0-default/stage1-amd64-systemd-T");
    assert.equal(l.relType, "23.0-default");
  });

  void test("refuses paths that would leave storedir and missing required keys", () => {
    assert.throws(
      () => specLayout(spec("source_subpath: ../../etc/x\n"), "t.spec"),
      /relative path below storedir/,
    );
    assert.throws(() => specLayout(spec("source_subpath: /abs\n"), "t.spec"), /relative path below storedir/);
    assert.throws(() => specLayout(settings("target: stage1\n"), "t.spec"), /has no "subarch"/);
  });
});
