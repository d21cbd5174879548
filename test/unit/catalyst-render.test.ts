/**
 * Rendering the eight real releng amd64 specs (test/fixtures/releng) the way catalyst-auto does,
 * with every substituted value checked, and the unknown-placeholder error.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { datestampFromTimestamp, renderSpec, specLayout } from "../../shared/catalyst/index.js";
import {
  parseSpec,
  renderTemplate,
  specSettings,
  type SpecValue,
  type TemplateVars,
} from "../../shared/catalyst/testing.js";
import { StagefarmError } from "../../shared/errors.js";
import { AMD64_SPECS, readFixture, specPath, type Amd64Spec } from "../helpers/catalyst-releng.js";

const T = "20250612T101500Z";
const TREE = "d55448fdd9e8e82386e9b121e4b637b03e59a0f8";
const REPO = "/var/tmp/catalyst/releng";
const VARS: TemplateVars = { TIMESTAMP: T, DATESTAMP: "20250612", REPO_DIR: REPO, TREEISH: TREE };

const STAGES = `${REPO}/releases/portage/stages`;
const ISOS = `${REPO}/releases/portage/isos`;

/** Every setting of each spec that holds a placeholder (and each seed), as it must read after rendering. */
const EXPECTED: Record<Amd64Spec, Record<string, SpecValue>> = {
  "stage1-openrc-23.spec": {
    version_stamp: `openrc-${T}`,
    snapshot_treeish: TREE,
    source_subpath: "23.0-default/stage3-amd64-openrc-latest",
    portage_confdir: STAGES,
  },
  "stage1-systemd-23.spec": {
    version_stamp: `systemd-${T}`,
    snapshot_treeish: TREE,
    source_subpath: "23.0-default/stage3-amd64-systemd-latest",
    portage_confdir: STAGES,
  },
  "stage3-openrc-23.spec": {
    version_stamp: `openrc-${T}`,
    snapshot_treeish: TREE,
    source_subpath: `23.0-default/stage1-amd64-openrc-${T}`,
    portage_confdir: STAGES,
  },
  "stage3-systemd-23.spec": {
    version_stamp: `systemd-${T}`,
    snapshot_treeish: TREE,
    source_subpath: `23.0-default/stage1-amd64-systemd-${T}`,
    portage_confdir: STAGES,
  },
  "stage3d-openrc-23.spec": {
    version_stamp: `desktop-openrc-${T}`,
    snapshot_treeish: TREE,
    source_subpath: `23.0-default/stage1-amd64-openrc-${T}`,
    portage_confdir: STAGES,
  },
  "stage3d-systemd-23.spec": {
    version_stamp: `desktop-systemd-${T}`,
    snapshot_treeish: TREE,
    source_subpath: `23.0-default/stage1-amd64-systemd-${T}`,
    portage_confdir: STAGES,
  },
  "installcd-stage1.spec": {
    version_stamp: T,
    snapshot_treeish: TREE,
    source_subpath: `23.0-default/stage3-amd64-openrc-${T}`,
    portage_confdir: ISOS,
  },
  "installcd-stage2-minimal.spec": {
    version_stamp: T,
    snapshot_treeish: TREE,
    source_subpath: `23.0-default/livecd-stage1-amd64-${T}`,
    portage_confdir: ISOS,
    "livecd/iso": `install-amd64-minimal-${T}.iso`,
    "livecd/volid": "Gentoo-amd64-20250612",
    "boot/kernel/gentoo/config": `${REPO}/releases/kconfig/amd64/dist-amd64-livecd.config`,
  },
};

/** What each spec's build writes (builds/<rel_type>/<result>.<ext>). */
const RESULTS: Record<Amd64Spec, string> = {
  "stage1-openrc-23.spec": `stage1-amd64-openrc-${T}`,
  "stage1-systemd-23.spec": `stage1-amd64-systemd-${T}`,
  "stage3-openrc-23.spec": `stage3-amd64-openrc-${T}`,
  "stage3-systemd-23.spec": `stage3-amd64-systemd-${T}`,
  "stage3d-openrc-23.spec": `stage3-amd64-desktop-openrc-${T}`,
  "stage3d-systemd-23.spec": `stage3-amd64-desktop-systemd-${T}`,
  "installcd-stage1.spec": `livecd-stage1-amd64-${T}`,
  "installcd-stage2-minimal.spec": `livecd-stage2-amd64-${T}`,
};

async function render(name: Amd64Spec) {
  const template = await readFixture(specPath(name));
  return { template, rendered: renderSpec({ template, file: specPath(name), vars: VARS }) };
}

void describe("the eight releng amd64 specs render like catalyst-auto renders them", () => {
  for (const name of AMD64_SPECS)
    void test(name, async () => {
      const { template, rendered } = await render(name);
      assert.ok(/@(TIMESTAMP|TREEISH|REPO_DIR)@/.test(template), "the template has placeholders to render");
      assert.doesNotMatch(rendered.text, /@[A-Z_]+@/, "no placeholder is left");
      const templateKeys = new Set(parseSpec(template, name).entries.map((e) => e.key));
      const withPlaceholders = parseSpec(template, name)
        .entries.filter((e) => e.values.some((v) => /@[A-Z_]+@/.test(v)))
        .map((e) => e.key)
        .sort();
      for (const key of withPlaceholders)
        assert.ok(key in EXPECTED[name], `${key} (has a placeholder) is checked`);
      for (const [key, value] of Object.entries(EXPECTED[name]))
        assert.deepEqual(rendered.settings.get(key), value, key);
      // Nothing else changed: same keys, same line count, identical lines without placeholders.
      assert.deepEqual(new Set(rendered.settings.keys()), templateKeys);
      const before = template.split("\n");
      const after = rendered.text.split("\n");
      assert.equal(after.length, before.length);
      for (const [i, line] of before.entries())
        if (!line.includes("@")) assert.equal(after[i], line, `line ${i + 1}`);
      assert.equal(specLayout(rendered.settings, name).resultBase, RESULTS[name]);
    });

  void test("each stage's seed is the build of the spec before it", async () => {
    const built = async (name: Amd64Spec): Promise<string> => {
      const l = specLayout((await render(name)).rendered.settings, name);
      return `${l.relType}/${l.resultBase}`;
    };
    const seedOf = async (name: Amd64Spec) =>
      specLayout((await render(name)).rendered.settings, name).sourceSubpath;
    assert.equal(await seedOf("stage3-systemd-23.spec"), await built("stage1-systemd-23.spec"));
    assert.equal(await seedOf("stage3d-systemd-23.spec"), await built("stage1-systemd-23.spec"));
    assert.equal(await seedOf("stage3-openrc-23.spec"), await built("stage1-openrc-23.spec"));
    assert.equal(await seedOf("stage3d-openrc-23.spec"), await built("stage1-openrc-23.spec"));
    assert.equal(await seedOf("installcd-stage1.spec"), await built("stage3-openrc-23.spec"));
    assert.equal(await seedOf("installcd-stage2-minimal.spec"), await built("installcd-stage1.spec"));
  });

  void test("overrides apply after rendering (the procedure's seed and a version stamp)", async () => {
    const template = await readFixture(specPath("stage1-systemd-23.spec"));
    const { settings, text } = renderSpec({
      template,
      file: "stage1-systemd-23.spec",
      vars: VARS,
      overrides: { source_subpath: "default/stage3-bootstrap", version_stamp: "systemd-2025-06-12" },
    });
    assert.equal(settings.get("source_subpath"), "default/stage3-bootstrap");
    assert.equal(settings.get("version_stamp"), "systemd-2025-06-12");
    assert.match(text, /^source_subpath: default\/stage3-bootstrap$/m);
    assert.equal(text.split("\n").length, template.split("\n").length);
  });
});

void describe("placeholders", () => {
  void test("an unknown placeholder is an error naming file:line:col and the placeholder", async () => {
    const template = (await readFixture(specPath("installcd-stage2-minimal.spec"))).replace(
      "boot/kernel/gentoo/config: @REPO_DIR@",
      "boot/kernel/gentoo/config: @REPODIR@",
    );
    const line = template.split("\n").findIndex((l) => l.includes("@REPODIR@")) + 1;
    assert.ok(line > 0);
    assert.throws(
      () => renderTemplate(template, VARS, "releng/releases/specs/amd64/installcd-stage2-minimal.spec"),
      (e: unknown) =>
        e instanceof StagefarmError &&
        e.code === "invalid_pipeline" &&
        e.message.startsWith(
          `releng/releases/specs/amd64/installcd-stage2-minimal.spec:${line}:28: unknown placeholder @REPODIR@ (did you mean @REPO_DIR@?)`,
        ),
    );
  });

  void test("every unknown placeholder is reported; comments and @world are not placeholders", () => {
    const text = "# @NOT_CHECKED@ in a comment\na: @FOO@ x @BAR@\nb: --newuse @world\n";
    assert.throws(
      () => renderTemplate(text, VARS, "t.spec"),
      (e: unknown) =>
        e instanceof StagefarmError &&
        e.message.includes("t.spec:2:4: unknown placeholder @FOO@") &&
        e.message.includes("t.spec:2:12: unknown placeholder @BAR@") &&
        !e.message.includes("NOT_CHECKED"),
    );
    assert.equal(renderTemplate("b: --newuse @world\n", VARS, "t.spec"), "b: --newuse @world\n");
  });

  void test("a value that would break the spec is refused", () => {
    assert.throws(
      () => renderTemplate("a: @TREEISH@\n", { ...VARS, TREEISH: "a b" }, "t.spec"),
      /@TREEISH@ must be one word/,
    );
  });

  void test("DATESTAMP is TIMESTAMP's date, as catalyst-auto's date -u +%Y%m%d on the snapshot day", () => {
    assert.equal(datestampFromTimestamp("20250612T101500Z"), "20250612");
    assert.equal(datestampFromTimestamp("2025-06-12"), "20250612");
    assert.equal(datestampFromTimestamp("2025.1"), undefined);
    assert.equal(datestampFromTimestamp("20251312T000000Z"), undefined);
  });
});

void test("rendered settings parse back identically from the rendered text", async () => {
  const { rendered } = await render("installcd-stage2-minimal.spec");
  assert.deepEqual(specSettings(parseSpec(rendered.text, "x")), rendered.settings);
});
