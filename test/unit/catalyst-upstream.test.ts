/**
 * stagefarm refuses at validate time, naming file:line:col, what Catalyst 4.1.1 refuses or
 * crashes on (each case was run through catalyst's own code with python3; the facts are in
 * shared/catalyst/upstream-4.1.1.ts), escapes the `%` Catalyst would %-format, checks a rendered
 * spec's keys against its target, applies the procedure's edits as intents on both releng
 * commits, and reads a `git archive` snapshot's commit and date.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  applyRelengEdit,
  catalystAutoTimestamp,
  confValueProblem,
  readGitArchiveHead,
  renderCatalystConf,
  renderSpec,
  specKeyProblems,
  unreleasedSharedFiles,
  type RelengEdit,
} from "../../shared/catalyst/index.js";
import { applySpecOverrides } from "../../shared/catalyst/testing.js";
import { StagefarmError } from "../../shared/errors.js";
import { parsePipeline } from "../../shared/pipeline/index.js";
import { AMD64_SPECS, readFixture, specPath, type RelengFixture } from "../helpers/catalyst-releng.js";

const run = promisify(execFile);

function pipelineWith(withLines: string): string {
  return [
    "pipeline: t",
    "stages:",
    "  s:",
    "    runner: catalyst",
    "    with:",
    "      spec: releases/specs/amd64/stage1-systemd-23.spec",
    "      snapshot: snap.sqfs",
    "      treeish: abc",
    '      timestamp: "20250612"',
    ...withLines.split("\n").map((l) => `      ${l}`),
    "",
  ].join("\n");
}

function validateError(withLines: string): string {
  try {
    parsePipeline(pipelineWith(withLines), "p.yaml");
  } catch (err: unknown) {
    assert.ok(err instanceof StagefarmError, String(err));
    return err.message;
  }
  assert.fail("the pipeline was accepted");
}

void describe("validate refuses what Catalyst 4.1.1 refuses, at file:line:col", () => {
  void test("catalyst_conf value types", () => {
    assert.match(
      validateError('catalyst_conf:\n  options: "pkgcache seedcache"'),
      /p\.yaml:11:18: .*with\.catalyst_conf\.options: must be a list of Catalyst options .*'str' object has no attribute 'extend'/,
    );
    assert.match(
      validateError("catalyst_conf:\n  digests: sha512"),
      /p\.yaml:11:18: .*with\.catalyst_conf\.digests: must be a list .* got the string "sha512"/,
    );
    assert.match(
      validateError('catalyst_conf:\n  jobs: "4"'),
      /with\.catalyst_conf\.jobs: must be a positive integer/,
    );
    assert.match(
      validateError("catalyst_conf:\n  options: [pkgcahce]"),
      /"pkgcahce" is not one of the Catalyst options \(did you mean "pkgcache"\?\)/,
    );
    assert.match(
      validateError("catalyst_conf:\n  digests: [sha513]"),
      /"sha513" is not one of the hashlib digests/,
    );
    assert.match(
      validateError("catalyst_conf:\n  repo_name: [a]"),
      /with\.catalyst_conf\.repo_name: must be a string/,
    );
    assert.match(
      validateError("catalyst_conf:\n  jobserver-fifo: /x"),
      /"jobserver-fifo" is read only by Catalyst after 4\.1\.1/,
    );
    // The values Catalyst takes pass.
    parsePipeline(
      pipelineWith(
        "catalyst_conf:\n  options: [pkgcache, seedcache]\n  digests: [blake2b, sha512]\n  jobs: 4\n  load-average: 4.5",
      ),
      "p.yaml",
    );
    assert.equal(confValueProblem("options", ["pkgcache"]), undefined);
  });

  void test("a spec override key no Catalyst target accepts", () => {
    assert.match(
      validateError("overrides: { livecd/isos: x.iso }"),
      /p\.yaml:10:33: .*with\.overrides\.livecd\/isos: "livecd\/isos" is not a spec key of any Catalyst 4\.1\.1 target \(Catalyst refuses it: Argument "livecd\/isos" not recognized\.\) \(did you mean "livecd\/iso"\?\)/,
    );
    parsePipeline(
      pipelineWith("overrides: { livecd/iso: x.iso, boot/kernel/gentoo/config: k.config }"),
      "p.yaml",
    );
  });
});

void describe("% is written so Catalyst reads the value as given", () => {
  void test("catalyst.conf strings are written with %%", () => {
    const conf = renderCatalystConf({ pipeline: { repo_name: "g50%" }, forced: { storedir: "/s/%x" } });
    assert.match(conf.text, /^repo_name = "g50%%"$/m);
    assert.match(conf.text, /^storedir = "\/s\/%%x"$/m);
    assert.equal(conf.values["repo_name"], "g50%", "the runner's own view is the value as given");
  });

  void test("an override on a key line is written with %%, a list item as it is", () => {
    const base = "target: stage1\nversion_stamp: a\n";
    assert.equal(
      applySpecOverrides(base, { version_stamp: "50%" }, "t.spec"),
      "target: stage1\nversion_stamp: 50%%\n",
    );
    assert.match(applySpecOverrides(base, { cflags: ["-O2%"] }, "t.spec"), /^cflags:\n\t-O2%$/m);
  });

  void test("a refused conf type never reaches catalyst.conf", () => {
    assert.throws(
      () => renderCatalystConf({ pipeline: { options: "pkgcache seedcache" }, forced: {} }),
      /catalyst_conf\.options: must be a list/,
    );
  });
});

async function rendered(which: RelengFixture, name: (typeof AMD64_SPECS)[number], extra = "") {
  const template = (await readFixture(specPath(name), which)) + extra;
  return renderSpec({
    template,
    file: name,
    vars: { TIMESTAMP: "20250612T101500Z", DATESTAMP: "20250612", REPO_DIR: "/r", TREEISH: "abc" },
  });
}

void describe("a rendered spec's keys against its target", () => {
  void test("every amd64 spec of both releng commits is accepted (as catalyst 4.1.1 accepted them)", async () => {
    for (const which of ["procedure", "newer"] as const)
      for (const name of AMD64_SPECS) {
        const r = await rendered(which, name);
        assert.deepEqual(specKeyProblems(r.doc, r.settings), [], `${which} ${name}`);
      }
  });

  void test("a key the target does not take is named with its line", async () => {
    const r = await rendered("procedure", "installcd-stage2-minimal.spec", "livecd/isos: x.iso\n");
    const line = r.text.split("\n").indexOf("livecd/isos: x.iso") + 1;
    const problems = specKeyProblems(r.doc, r.settings);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.where, `installcd-stage2-minimal.spec:${line}`);
    assert.match(problems[0]?.message ?? "", /"livecd\/isos" is not a spec key of target livecd-stage2/);
    const s1 = await rendered("procedure", "stage1-systemd-23.spec", "livecd/packages: a/b\n");
    assert.match(specKeyProblems(s1.doc, s1.settings)[0]?.message ?? "", /not a spec key of target stage1/);
  });

  void test("the newer releng's cdtar is known to need Catalyst master", async () => {
    const newer = await rendered("newer", "installcd-stage2-minimal.spec");
    assert.deepEqual(
      unreleasedSharedFiles(newer.settings, "/usr/share/catalyst").map((f) => f.commit),
      ["11967e5fb04b743fa02cad3ea7f0239896c9fd0a"],
    );
    const old = await rendered("procedure", "installcd-stage2-minimal.spec");
    assert.deepEqual(unreleasedSharedFiles(old.settings, "/usr/share/catalyst"), []);
  });
});

void describe("ensure_line: the procedure's edits as intents on both releng commits", () => {
  const ctx = { stage: "s", index: 0 };
  const apply = async (
    which: RelengFixture,
    edit: RelengEdit,
  ): Promise<{ text: string; summary: string }> => {
    const r = applyRelengEdit(await readFixture(edit.file, which), edit, ctx);
    assert.equal(r.t, "write");
    return r.t === "write" ? r : { text: "", summary: "" };
  };
  const unmerge = (text: string): string => /^livecd\/unmerge:\n((?:\t.*\n)+)/m.exec(text)?.[1] ?? "";

  void test("livecd/unmerge: rust-bin becomes rust at 87eea8b6; rust is added at 2542ea88", async () => {
    const edit: RelengEdit = {
      file: specPath("installcd-stage2-minimal.spec"),
      ensure_line: {
        line: "\tdev-lang/rust",
        replacing: "^\\s*dev-lang/rust-bin\\s*$",
        after: "^livecd/unmerge:",
      },
    };
    for (const which of ["procedure", "newer"] as const) {
      const r = await apply(which, edit);
      assert.match(unmerge(r.text), /^\tdev-lang\/rust$/m, which);
      assert.doesNotMatch(unmerge(r.text), /rust-bin/, which);
    }
    assert.match((await apply("procedure", edit)).summary, /^replaced 1 line/);
    assert.match((await apply("newer", edit)).summary, /^inserted .* after line \d+$/);
  });

  void test("the pillow line is added once, whichever commit", async () => {
    const edit: RelengEdit = {
      file: "releases/portage/stages/package.use/releng/circular",
      ensure_line: { line: "dev-python/pillow -truetype" },
    };
    const old = await apply("procedure", edit);
    assert.match(old.summary, /^appended/);
    assert.ok(old.text.endsWith("dev-python/pillow -truetype\n"));
    const newer = await apply("newer", edit);
    assert.match(newer.summary, /already present/);
    assert.equal(newer.text, await readFixture(edit.file, "newer"));
  });

  void test("an `after` that matches nothing no longer applies", () => {
    assert.throws(
      () => applyRelengEdit("a\n", { file: "f", ensure_line: { line: "x", after: "^nope" } }, ctx),
      /edit no longer applies: ensure_line\.after: no line matches/,
    );
  });
});

void describe("a git archive snapshot names its commit and date", () => {
  void test("commit id, commit time and top directory from `git archive`", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-git-archive-"));
    try {
      await mkdir(join(dir, "r/profiles"), { recursive: true });
      await writeFile(join(dir, "r/profiles/repo_name"), "gentoo\n");
      const date = "2025-06-12T10:15:00Z";
      const env = { ...process.env, GIT_COMMITTER_DATE: date, GIT_AUTHOR_DATE: date };
      const git = (...a: string[]) => run("git", ["-C", join(dir, "r"), ...a], { env });
      await git("init", "-q");
      await git("add", ".");
      await git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "m");
      const commit = (await git("rev-parse", "HEAD")).stdout.trim();
      await git("archive", "--format=tar", `--prefix=gentoo-${commit}/`, "-o", join(dir, "a.tar"), "HEAD");
      const info = readGitArchiveHead(await readFile(join(dir, "a.tar")));
      assert.deepEqual(info, { commit, commitTime: Date.parse(date) / 1000, root: `gentoo-${commit}` });
      assert.equal(catalystAutoTimestamp(info.commitTime), "20250612T101500Z");
      // A plain tar (no pax header naming a commit) is not a git archive.
      await run("tar", ["-C", join(dir, "r"), "-cf", join(dir, "plain.tar"), "profiles"]);
      assert.equal(readGitArchiveHead(await readFile(join(dir, "plain.tar"))), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
