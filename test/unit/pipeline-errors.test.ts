import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { PipelineError, loadPipeline } from "../../shared/pipeline/index.js";
import { FILE, FIXTURES, SHA_A, SHELL, assertOneError, errorsOf, posOf } from "../helpers/pipeline-assert.js";

void describe("parsePipeline: errors with positions", () => {
  void test("a YAML syntax error carries the yaml library's position", () => {
    const lines = errorsOf("stages:\n  a:\n\trunner: shell\n");
    assert.equal(lines.length, 1);
    assert.match(
      lines[0] ?? "",
      /^pipelines\/demo\/pipeline\.yaml:3:1: error: Tabs are not allowed as indentation/,
    );
  });

  void test("duplicate keys", () => {
    const text = SHELL("    runner: chroot\n");
    assertOneError(text, ["runner", 1], 'duplicate key "runner"');
    const text2 = `stages:\n  a: { runner: shell, script: x }\n  'a': { runner: shell, script: y }\n`;
    assertOneError(text2, "'a'", 'duplicate key "a"');
  });

  void test("unknown keys at every level, with suggestions", () => {
    const top = `stagse: {}\nstages: { a: { runner: shell, script: x } }\n`;
    assertOneError(top, "stagse", 'top level: unknown key "stagse" (did you mean "stages"?)');
    assertOneError(
      SHELL("    scirpt: x\n"),
      "scirpt",
      'stage "build": unknown key "scirpt" (did you mean "script"?)',
    );
    const input = SHELL(`    inputs:\n      s: { url: "https://x/y", sha256: "${SHA_A}", unpak: true }\n`);
    assertOneError(input, "unpak", 'stage "build" input "s": unknown key "unpak" (did you mean "unpack"?)');
    const output = SHELL("    outputs:\n      o: { path: out, knd: tree }\n");
    assertOneError(output, "knd", 'stage "build" output "o": unknown key "knd" (did you mean "kind"?)');
    const param = `params:\n  p: { default: x, descripton: y }\n${SHELL()}`;
    assertOneError(param, "descripton", 'param "p": unknown key "descripton" (did you mean "description"?)');
    const source = `stages:\n  f:\n    runner: fetch\n    sources:\n      s: { url: "https://x/y", sha265: "${SHA_A}" }\n`;
    assert.deepEqual(errorsOf(source), [
      `${FILE}:${posOf(source, "s: {")}: error: stage "f" source "s": missing required field "sha256"`,
      `${FILE}:${posOf(source, "sha265")}: error: stage "f" source "s": unknown key "sha265" (did you mean "sha256"?)`,
    ]);
  });

  void test("missing required fields", () => {
    assertOneError(`description: x\n`, "description", 'top level: missing required field "stages"');
    const noRunner = `stages:\n  build:\n    script: make\n`;
    assertOneError(noRunner, "build", 'stage "build": missing required field "runner"');
    const noPath = SHELL("    outputs:\n      o: { kind: tree }\n");
    assertOneError(noPath, "o:", 'stage "build" output "o": missing required field "path"');
    const noDefault = `params:\n  p: { description: y }\n${SHELL()}`;
    assertOneError(noDefault, "p:", 'param "p": needs "default" (or "required: true"');
    const noSha = SHELL(`    inputs:\n      s: { url: "https://x/y" }\n`);
    assertOneError(noSha, "s: {", 'stage "build" input "s": missing required field "sha256"');
    const noScript = `stages:\n  build:\n    runner: shell\n`;
    assertOneError(noScript, "build", 'stage "build": runner "shell" needs a "script"');
    assertOneError(`stages:\n  f:\n    runner: fetch\n`, "f:", 'stage "f": a fetch stage needs "sources"');
  });

  void test("wrong types name what was expected and what was found", () => {
    const script = `stages:\n  b:\n    runner: shell\n    script: { a: 1 }\n`;
    assertOneError(script, "{ a", 'stage "b" script: expected a string, got a mapping');
    const requires = SHELL("    requires: x86_64\n");
    assertOneError(requires, "x86_64", 'stage "build" requires: expected a list of strings, got a string');
    const retries = SHELL("    retries: many\n");
    assertOneError(retries, "many", 'stage "build" retries: expected a whole number, got a string');
    const clamp = SHELL("    clamp_mtime: 1\n");
    assertOneError(clamp, "1", 'stage "build" clamp_mtime: expected true or false, got a number');
    assertOneError(`stages: [a, b]\n`, "[", "stages: expected a mapping, got a sequence");
    assertOneError(SHELL("    env: { N: }\n"), "N:", 'stage "build" env "N": expected a string, got null');
  });

  const base = [
    "stages:",
    "  compile:",
    "    runner: shell",
    "    script: make",
    "    outputs: { obj: out/o }",
    "  link:",
    "    runner: shell",
    "    script: ld",
    "    inputs:",
    "",
  ].join("\n");

  void test("references: unknown stage, unknown output, self, bad form", () => {
    const unknownStage = `${base}      obj: compil.obj\n`;
    assertOneError(
      unknownStage,
      "obj: compil",
      'stage "link" input "obj": unknown stage "compil" (did you mean "compile"?)',
    );
    const unknownOutput = `${base}      obj: { from: compile.ob }\n`;
    assertOneError(
      unknownOutput,
      "obj: {",
      'stage "link" input "obj": stage "compile" has no output "ob" (did you mean "obj"?); its outputs are "obj"',
    );
    const self = `${base}      me: link.x\n`;
    assertOneError(
      self,
      "me:",
      'stage "link" input "me": a stage cannot take its own output ("link.x") as input',
    );
    const form = `${base}      obj: compile\n`;
    assertOneError(
      form,
      ["compile", 1],
      'stage "link" input "obj": expected a reference "<stage>.<output>", got "compile"',
    );
  });

  void test("a reference to a stage with its own errors is not reported again", () => {
    const lines = errorsOf(`${base}      obj: compile.obj\n`.replace("runner: shell", "runner: shel"));
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.ok(lines[0]?.includes('unknown runner "shel" (did you mean "shell"?)'));
  });

  void test("a cycle of three names every stage in order, at one edge", () => {
    const stage = (name: string, from: string) =>
      `  ${name}:\n    runner: shell\n    script: x\n    inputs: { i: ${from}.o }\n    outputs: { o: out }\n`;
    const text = `stages:\n${stage("a", "c")}${stage("b", "a")}${stage("c", "b")}  d:\n    runner: shell\n    script: x\n`;
    assertOneError(
      text,
      "i: c.o",
      'stage "a" input "i": dependency cycle: a -> c -> b -> a (each stage takes an input from the next)',
    );
  });

  void test("invalid values: sha256, runner, durations, names, paths", () => {
    const upper = "A".repeat(64);
    const sha = SHELL(`    inputs:\n      s: { url: "https://x/y", sha256: "${upper}" }\n`);
    assertOneError(
      sha,
      `"${upper}`,
      `stage "build" input "s": invalid sha256 "${upper}" (expected 64 lowercase hex characters)`,
    );
    assertOneError(
      `stages:\n  b:\n    runner: bash\n`,
      "bash",
      'stage "b": unknown runner "bash"; valid runners are fetch, shell, chroot, emerge, catalyst',
    );
    const hours = SHELL("    timeout: 3 hours\n");
    assertOneError(
      hours,
      "3 hours",
      'stage "build" timeout: invalid duration "3 hours" (use e.g. 90s, 45m, 12h, 1h30m)',
    );
    assertOneError(SHELL("    estimate: -5\n"), "-5", 'stage "build" estimate: invalid duration -5');
    assertOneError(SHELL("    timeout: 0s\n"), "0s", 'stage "build" timeout: must be longer than zero');
    assertOneError(
      SHELL("    timeout: [1]\n"),
      "[1]",
      "expected a duration (e.g. 30m, 2h) or a number of seconds, got a sequence",
    );
    assertOneError(
      `stages:\n  Build:\n    runner: shell\n    script: x\n`,
      "Build",
      'stage "Build": invalid name "Build"',
    );
    assertOneError(
      SHELL("    outputs: { bin.x: out }\n"),
      "bin.x",
      'stage "build" output "bin.x": invalid name "bin.x"',
    );
    assertOneError(`params:\n  _p: x\n${SHELL()}`, "_p", 'param "_p": invalid name "_p"');
    const abs = SHELL("    outputs: { bin: /usr/bin/hello }\n");
    assertOneError(
      abs,
      "/usr",
      'stage "build" output "bin" path: path "/usr/bin/hello" must be relative to the workspace',
    );
    const dotdot = SHELL(
      `    inputs:\n      s: { url: "https://x/y", sha256: "${SHA_A}", path: a/../../etc }\n`,
    );
    assertOneError(
      dotdot,
      "a/..",
      'stage "build" input "s" path: path "a/../../etc" must not contain ".." components',
    );
    const messy = SHELL("    outputs: { bin: ./out/ }\n");
    assertOneError(messy, "./out", 'path "./out/" is not normalised', 'write "out"');
  });

  void test("unknown params are reported at the template, even inside a block scalar", () => {
    const text = `params:\n  cflags: -O2\nstages:\n  b:\n    runner: shell\n    script: make\n    env:\n      FLAGS: |\n        -pipe\n        \${{ params.cflag }} -g\n`;
    assertOneError(
      text,
      "${{ params.cflag",
      'unknown param "cflag" in "${{ params.cflag }}" (did you mean "cflags"?); known params: "cflags"',
    );
    assertOneError(
      SHELL('    env: { A: "x ${{ env.HOME }}" }\n'),
      "${{",
      'unsupported expression "${{ env.HOME }}"',
    );
    assertOneError(SHELL('    env: { A: "${{ params.x" }\n'), '"${{', '"${{" without a closing "}}"');
  });

  void test("fetch and script rules", () => {
    const fetch = `stages:\n  f:\n    runner: fetch\n    script: x\n    sources: { s: { url: "https://x/y", sha256: "${SHA_A}" } }\n`;
    assertOneError(fetch, "script", 'stage "f": a fetch stage takes no "script"');
    const sources = SHELL(`    sources: { s: { url: "https://x/y", sha256: "${SHA_A}" } }\n`);
    assertOneError(sources, "sources", 'stage "build": "sources" is only for runner "fetch"');
    const overlap = SHELL(
      `    inputs:\n      a: { url: "https://x/y", sha256: "${SHA_A}", path: src }\n      b: { url: "https://x/z", sha256: "${SHA_A}", path: src/b }\n`,
    );
    assertOneError(overlap, "b:", 'stage "build" input "b": path "src/b" overlaps input "a" at "src"');
  });

  void test("several errors are reported at once, sorted by position", async () => {
    const path = join(FIXTURES, "errors/pipeline.yaml");
    await assert.rejects(loadPipeline(path), (err: unknown) => {
      assert.ok(err instanceof PipelineError);
      assert.deepEqual(err.message.split("\n"), [
        `${path}:12:7: error: stage "link" input "obj": unknown stage "compil" (did you mean "compile"?)`,
        `${path}:14:14: error: stage "link" timeout: invalid duration "soon" (use e.g. 90s, 45m, 12h, 1h30m)`,
      ]);
      assert.deepEqual(
        err.issues.map((i) => [i.pos.line, i.pos.col]),
        [
          [12, 7],
          [14, 14],
        ],
      );
      return true;
    });
    const text = [
      "stages:",
      "  b:",
      "    runner: shel",
      "    script: { x: 1 }",
      "    inputs: { i: nowhere.o }",
      "    outputs: { o: ../o }",
      "  c:",
      "    runner: shell",
    ].join("\n");
    const lines = errorsOf(text);
    assert.deepEqual(
      lines.map((l) => l.split(": error: ")[0]),
      ["shel", "{ x", "i:", "../o", "c:"].map((m) => `${FILE}:${posOf(text, m)}`),
    );
  });
});
