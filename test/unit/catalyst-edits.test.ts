/**
 * Releng edits (shared/catalyst/releng-edits.ts) on the real releng files: the procedure's
 * changes (rust masks, packages.build, the circular USE lines, the admincd keyword), and edits
 * that no longer apply.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { applyRelengEdit, type RelengEdit } from "../../shared/catalyst/index.js";
import { type EditResult } from "../../shared/catalyst/testing.js";
import { StagefarmError } from "../../shared/errors.js";
import { readFixture } from "../helpers/catalyst-releng.js";

const STAGES = "releases/portage/stages";
const ISOS = "releases/portage/isos";
const ctx = { stage: "releng-edits", index: 0 };

function written(r: EditResult): string {
  assert.equal(r.t, "write");
  return r.t === "write" ? r.text : "";
}

async function edit(e: RelengEdit): Promise<string> {
  return written(applyRelengEdit(await readFixture(e.file).catch(() => undefined), e, ctx));
}

function noLongerApplies(index: number, file: string, what: RegExp) {
  return (e: unknown): boolean =>
    e instanceof StagefarmError &&
    e.code === "invalid_pipeline" &&
    e.message.startsWith(
      `stage "releng-edits" releng edit ${index + 1} (${file}): edit no longer applies: `,
    ) &&
    what.test(e.message);
}

void describe("the procedure's releng edits on the real files", () => {
  void test("stages rust mask: mask rust-bin so stage builds use dev-lang/rust", async () => {
    const file = `${STAGES}/package.mask/releng/rust`;
    assert.equal(
      await readFixture(file),
      '# force using rust-bin (this affects only "desktop stages")\ndev-lang/rust\n',
    );
    const text = await edit({
      file,
      replace_line: [{ match: "^dev-lang/rust$", with: "dev-lang/rust-bin" }],
    });
    assert.equal(text, '# force using rust-bin (this affects only "desktop stages")\ndev-lang/rust-bin\n');
  });

  void test("packages.build is created with dev-lang/rust (forces rust in stage1)", async () => {
    const file = `${STAGES}/profile/packages.build`;
    await assert.rejects(readFixture(file), "releng has no packages.build");
    const r = applyRelengEdit(undefined, { file, content: "dev-lang/rust\n" }, ctx);
    assert.deepEqual(r, { t: "write", text: "dev-lang/rust\n", summary: "created (14 bytes)" });
  });

  void test("circular: the curl line reads as the procedure says; pillow -truetype is there once", async () => {
    const file = `${STAGES}/package.use/releng/circular`;
    const before = await readFixture(file);
    const text = await edit({
      file,
      replace_line: [
        { match: "^net-misc/curl\\s", with: "net-misc/curl http2 ssl openssl curl_ssl_openssl" },
        { match: "^dev-python/pillow\\s", with: "dev-python/pillow -truetype" },
      ],
    });
    assert.match(text, /^net-misc\/curl http2 ssl openssl curl_ssl_openssl$/m);
    assert.doesNotMatch(text, /-http2 -http3/);
    assert.equal(text.match(/^dev-python\/pillow -truetype$/gm)?.length, 1);
    const changed = before.split("\n").filter((l, i) => l !== text.split("\n")[i]);
    assert.deepEqual(
      changed,
      ["net-misc/curl -http2 -http3 -quic -curl_quic_openssl"],
      "only the curl line changed",
    );
  });

  void test("appending a line adds it on a line of its own", async () => {
    const file = `${ISOS}/package.accept_keywords/admincd-packages`;
    const text = await edit({ file, append: "net-libs/mbedtls" });
    assert.equal(text, `${await readFixture(file)}net-libs/mbedtls\n`);
    assert.equal(written(applyRelengEdit("a", { file, append: "b\n" }, ctx)), "a\nb\n");
  });

  void test("isos rust mask: the line becomes dev-lang/rust-bin", async () => {
    const file = `${ISOS}/package.mask/releng/rust`;
    const text = await edit({ file, replace: [{ from: "\ndev-lang/rust\n", to: "\ndev-lang/rust-bin\n" }] });
    assert.match(text, /\ndev-lang\/rust-bin\n$/);
  });

  void test("remove deletes a file; content replaces one", async () => {
    const file = `${STAGES}/package.use/releng/openmp`;
    assert.deepEqual(applyRelengEdit(await readFixture(file), { file, remove: true }, ctx), {
      t: "remove",
      summary: "removed",
    });
    assert.equal(await edit({ file, content: "" }), "");
  });
});

void describe("an edit that no longer applies", () => {
  void test("the procedure's literal rust edit: this releng masks dev-lang/rust, not rust-bin", async () => {
    const file = `${STAGES}/package.mask/releng/rust`;
    await assert.rejects(
      edit({ file, replace: [{ from: "dev-lang/rust-bin", to: "dev-lang/rust" }] }),
      noLongerApplies(0, file, /replace\[0\]: text not found: "dev-lang\/rust-bin"$/),
    );
  });

  void test("a replace_line that matches no line names its pattern and index", async () => {
    const file = `${STAGES}/package.use/releng/circular`;
    await assert.rejects(
      edit({
        file,
        replace_line: [
          { match: "^net-misc/curl\\s", with: "net-misc/curl ssl" },
          { match: "^media-libs/tiff\\s", with: "media-libs/tiff -webp" },
        ],
      }),
      noLongerApplies(0, file, /replace_line\[1\]: no line matches \/\^media-libs\/tiff\\s\/$/),
    );
  });

  void test("editing a file the checkout does not have", () => {
    const file = `${STAGES}/package.use/releng/gone`;
    for (const e of [
      { file, append: "x" },
      { file, remove: true },
      { file, replace: [{ from: "a", to: "b" }] },
    ])
      assert.throws(
        () => applyRelengEdit(undefined, e, { stage: "releng-edits", index: 2 }),
        noLongerApplies(2, file, /does not exist in the releng checkout$/),
      );
  });

  void test("an edit must name exactly one operation", () => {
    assert.throws(
      () => applyRelengEdit("x", { file: "f", append: "a", content: "b" }, ctx),
      /needs exactly one of replace, replace_line, append, ensure_line, content, remove \(got append, content\)/,
    );
  });
});
