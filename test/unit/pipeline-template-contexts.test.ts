/**
 * Params never become code: templates in scripts and code-like runner fields are refused at
 * file:line:col; templates in shell-syntax config files must sit in double quotes; values that
 * would break out of a config file's format are refused once params are applied.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parse as parseToml } from "smol-toml";
import { renderCatalystConf } from "../../shared/catalyst/index.js";
import { applySpecOverrides } from "../../shared/catalyst/testing.js";
import { parseSpec, specSettings } from "../../shared/catalyst/testing.js";
import { StagefarmError } from "../../shared/errors.js";
import { parsePipeline, resolvePipeline } from "../../shared/pipeline/index.js";
import { shellQuoteAt } from "../../shared/pipeline/testing.js";
import { withTemplateContext } from "../../shared/runner-config/index.js";
import { FILE, assertOneError, errorsOf, posOf } from "../helpers/pipeline-assert.js";

const HOSTILE = [
  "'; touch /tmp/pwned-$RANDOM; '",
  "$(id)",
  "`id`",
  'a"b',
  "back\\slash",
  "two\nlines",
  "x".repeat(10 * 1024),
];

const PARAMS = `params:\n  greeting: hi\n  cflags: -O2\n`;

function emerge(withYaml: string): string {
  return `${PARAMS}stages:\n  e:\n    runner: emerge\n    with:\n${withYaml}`;
}

function catalyst(extra: string): string {
  return (
    `${PARAMS}stages:\n  c:\n    runner: catalyst\n    with:\n      spec: s.spec\n      snapshot: snap.sqfs\n` +
    `      treeish: abc\n      timestamp: 20250101T000000Z\n${extra}`
  );
}

/** The resolve-time refusal for `text` with `params`: an invalid_argument naming the param. */
function assertRefused(text: string, params: Record<string, string>, ...fragments: string[]): void {
  const spec = parsePipeline(text, FILE);
  assert.throws(
    () => resolvePipeline(spec, params),
    (err: unknown) => {
      assert.ok(err instanceof StagefarmError, String(err));
      assert.equal(err.code, "invalid_argument");
      for (const f of fragments) assert.ok(err.message.includes(f), `"${f}" missing from: ${err.message}`);
      return true;
    },
  );
}

function assertRefused2(fn: () => unknown, fragment: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StagefarmError && err.code === "invalid_argument", String(err));
    assert.ok(err.message.includes(fragment), err.message);
    return true;
  });
}

void describe("templates where they would become code are refused at parse time", () => {
  void test("in a script: at the template, saying how to pass it through env", () => {
    const text = `${PARAMS}stages:\n  docs:\n    runner: shell\n    script: |\n      mkdir -p out\n      echo 'hello \\- print "\${{ params.greeting }}, NAME!"'\n`;
    assertOneError(
      text,
      "${{ params.greeting",
      'stage "docs" script: ${{ params.greeting }} inside a script would become shell code; ' +
        'pass it as data: env: { GREETING: "${{ params.greeting }}" } and use "$GREETING" in the script',
    );
  });

  void test("every template of a script, in any YAML style and in any runner's script", () => {
    const text = `${PARAMS}stages:\n  a:\n    runner: chroot\n    script: "echo \\"x\\" \${{ params.cflags }} \${{params.greeting}}"\n  b:\n    runner: shell\n    script: >\n      cc\n      \${{ params.cflags }}\n`;
    const lines = errorsOf(text);
    assert.deepEqual(
      lines.map((l) => l.slice(0, l.indexOf(": error"))),
      [
        `${FILE}:${posOf(text, "${{ params.cflags")}`,
        `${FILE}:${posOf(text, "${{params.greeting")}`,
        `${FILE}:${posOf(text, "${{ params.cflags", 1)}`,
      ],
    );
    assert.ok(lines[1]?.includes('env: { GREETING: "${{params.greeting}}" }'), lines[1]);
  });

  void test("in runner fields that run something or hold text of unknown format", () => {
    assertOneError(
      emerge(`      root: rootfs\n      emerge: [{ args: [x], command: "\${{ params.cflags }}" }]\n`),
      "${{",
      'stage "e" with.emerge[0].command: ${{ params.cflags }} in with.emerge[].command (the program to run) would become code',
    );
    assertOneError(
      `${PARAMS}stages:\n  c:\n    runner: chroot\n    script: make\n    with: { shell: "/bin/\${{ params.cflags }}" }\n`,
      "${{",
      "with.shell (the shell that runs the script) would become code",
    );
    assertOneError(
      catalyst(
        `      releng_edits:\n        - file: x.sh\n          append: "echo \${{ params.greeting }}"\n`,
      ),
      "${{",
      'stage "c" with.releng_edits[0].append:',
      "a releng edit",
      "with.overrides",
    );
    assertOneError(
      catalyst(
        `      releng_edits:\n        - file: x.sh\n          replace: [{ from: a, to: "\${{ params.greeting }}" }]\n`,
      ),
      "${{",
      "with.releng_edits[0].replace[0].to:",
    );
    assertOneError(
      catalyst(`      catalyst_conf: { envscript: "/etc/\${{ params.greeting }}" }\n`),
      "${{",
      "catalyst_conf.envscript (a script Catalyst sources) would become code",
    );
  });

  void test("through YAML merge keys: reported where the template is written", () => {
    const text = `${PARAMS}x-shared: &shared\n  root: rootfs\n  emerge: [{ args: [x], command: "\${{ params.cflags }}" }]\nstages:\n  e:\n    runner: emerge\n    with:\n      <<: *shared\n`;
    // A top-level key the parser does not know is reported too; the template error is the point.
    const lines = errorsOf(text);
    assert.ok(
      lines.some((l) =>
        l.startsWith(`${FILE}:${posOf(text, "${{")}: error: stage "e" with.emerge[0].command`),
      ),
      lines.join("\n"),
    );
  });

  void test("data fields keep their templates: env, paths, URLs, args, spec values, TOML", () => {
    const text =
      `${PARAMS}stages:\n  e:\n    runner: emerge\n    env: { CFLAGS: "\${{ params.cflags }}" }\n    with:\n` +
      `      root: rootfs\n      emerge: [{ args: ["\${{ params.greeting }}"], env: { USE: "\${{ params.cflags }}" } }]\n` +
      `      configs: [{ package_use: "dev-lang/\${{ params.greeting }} -x\\n" }]\n`;
    const [stage] = resolvePipeline(parsePipeline(text, FILE), {});
    assert.deepEqual(stage?.env, { CFLAGS: "-O2" });
    assert.deepEqual(stage?.paramsUsed, ["cflags", "greeting"]);
    const c = catalyst(
      `      overrides: { version_stamp: "\${{ params.greeting }}-1" }\n      catalyst_conf: { binhost: "\${{ params.greeting }}" }\n`,
    );
    const [cs] = resolvePipeline(parsePipeline(c, FILE), { greeting: 'a"b\\c' });
    assert.deepEqual(cs?.with["catalyst_conf"], { binhost: 'a"b\\c' });
  });
});

void describe("shell-syntax config files: a template must sit inside double quotes", () => {
  const makeConf = (body: string) =>
    emerge(
      `      root: rootfs\n      emerge: [{ args: [x] }]\n      configs:\n        - make_conf: |\n${body}`,
    );

  void test("accepted in double quotes", () => {
    const text = makeConf(
      `            CFLAGS="\${{ params.cflags }} -pipe"\n            CXXFLAGS="\${CFLAGS}"\n            X="a \${{ params.greeting }} # b"\n`,
    );
    const [stage] = resolvePipeline(parsePipeline(text, FILE), {});
    const configs = stage?.with["configs"] as Array<Record<string, string>>;
    assert.equal(configs[0]?.["make_conf"], 'CFLAGS="-O2 -pipe"\nCXXFLAGS="${CFLAGS}"\nX="a hi # b"\n');
  });

  void test("refused unquoted, in single quotes, in a comment, in a command substitution", () => {
    for (const line of [
      `CFLAGS=\${{ params.cflags }}`,
      `CFLAGS='\${{ params.cflags }}'`,
      `# CFLAGS="\${{ params.cflags }}"`,
      `CFLAGS="$(echo \${{ params.cflags }})"`,
      `CFLAGS="\${X:-\${{ params.cflags }}}"`,
      `CFLAGS="a"\${{ params.cflags }}`,
    ]) {
      const text = makeConf(`            A="x"\n            ${line}\n`);
      assertOneError(
        text,
        "${{",
        'stage "e" with.configs[0].make_conf: ${{ params.cflags }} in etc/portage/make.conf must sit inside double quotes',
      );
    }
  });

  void test("env.d and portage env files follow the same rule; package files do not", () => {
    assertOneError(
      emerge(
        `      root: rootfs\n      emerge: [{ args: [x] }]\n      env_d: { 99x: "PATH=\${{ params.cflags }}" }\n`,
      ),
      "${{",
      "in etc/env.d/99x must sit inside double quotes",
    );
    assertOneError(
      emerge(
        `      root: rootfs\n      emerge: [{ args: [x] }]\n      configs: [{ env: { gcc.conf: "CFLAGS=\${{ params.cflags }}" } }]\n`,
      ),
      "${{",
      "in etc/portage/env/gcc.conf must sit inside double quotes",
    );
    const ok = emerge(
      `      root: rootfs\n      emerge: [{ args: [x] }]\n      configs: [{ package_env: "\${{ params.greeting }} gcc.conf", files: { "package.use/x": "\${{ params.greeting }} -y" } }]\n`,
    );
    assert.equal(resolvePipeline(parsePipeline(ok, FILE), {}).length, 1);
  });
});

void describe("values that would break out of a config file are refused once params are applied", () => {
  const makeConf = emerge(
    `      root: rootfs\n      emerge: [{ args: [x] }]\n      configs:\n        - make_conf: |\n            CFLAGS="\${{ params.cflags }}"\n`,
  );
  const packageUse = emerge(
    `      root: rootfs\n      emerge: [{ args: [x] }]\n      configs: [{ package_use: "\${{ params.greeting }} -x\\n" }]\n`,
  );

  void test("make.conf: quotes, backslashes, $, backticks and newlines", () => {
    for (const [value, shown] of [
      ['-O2" FEATURES="-sandbox', `'"'`],
      ["$(touch /tmp/x)", "'$'"],
      ["`touch /tmp/x`", "'`'"],
      ["a\\", "'\\'"],
      ["-O2\nFEATURES=-sandbox", "a newline"],
    ] as const)
      assertRefused(
        makeConf,
        { cflags: value },
        'stage "e" with.configs[0].make_conf: param "cflags" cannot be used here',
        `its value holds ${shown}`,
        "etc/portage/make.conf is read with shell syntax",
      );
  });

  void test("line-based files: a newline or control character would add entries", () => {
    assertRefused(
      packageUse,
      { greeting: "dev-lang/x\n*/* -*" },
      "its value holds a newline",
      "etc/portage/package.use is line-based",
    );
    assertRefused(packageUse, { greeting: "a\rb" }, "a carriage return");
    const resolv = `${PARAMS}stages:\n  c:\n    runner: chroot\n    script: make\n    with: { resolv_conf: { content: "nameserver \${{ params.greeting }}\\n" } }\n`;
    assertRefused(resolv, { greeting: "1.1.1.1\noptions debug" }, "resolv.conf is line-based");
  });

  void test("a Catalyst spec value cannot inject spec keys (an fsscript)", () => {
    const spec = catalyst(`      overrides: { version_stamp: "\${{ params.greeting }}" }\n`);
    assertRefused(spec, { greeting: "1\nfsscript: /tmp/evil" }, `the spec's "version_stamp" is line-based`);
    assertRefused(spec, { greeting: "1\u000bfsscript: /tmp/evil" }, "control character");
    assert.throws(
      () => applySpecOverrides("target: stage1\n", { version_stamp: "1\nfsscript: /tmp/evil" }, "s.spec"),
      /must be on one line/,
    );
    const rendered = applySpecOverrides("target: stage1\n", { version_stamp: "$(touch x) `id`" }, "s.spec");
    const settings = specSettings(parseSpec(rendered, "s.spec"));
    assert.deepEqual([...settings.keys()], ["target", "version_stamp"]);
  });

  void test("catalyst.conf is TOML written by smol-toml: hostile strings stay one string", () => {
    const evil = 'x"\n[evil]\nenvscript = "/tmp/evil"\n\\u0041 $(id) `id`';
    const conf = renderCatalystConf({
      pipeline: { binhost: evil, distcc_hosts: evil },
      forced: { storedir: "/s" },
    });
    const back = parseToml(conf.text);
    assert.deepEqual(Object.keys(back).sort(), ["binhost", "digests", "distcc_hosts", "options", "storedir"]);
    assert.equal(back["binhost"], evil);
    assert.equal(back["distcc_hosts"], evil);
    // An option list item is one of Catalyst's option names, so a hostile one never gets that far.
    assert.throws(
      () => renderCatalystConf({ pipeline: { options: [evil] }, forced: {} }),
      /is not one of the Catalyst options/,
    );
  });

  void test("inert values pass, and env values are data whatever they hold", () => {
    const [stage] = resolvePipeline(parsePipeline(makeConf, FILE), { cflags: "-O2 -pipe -march=x86-64-v3" });
    const configs = stage?.with["configs"] as Array<Record<string, string>>;
    assert.equal(configs[0]?.["make_conf"], 'CFLAGS="-O2 -pipe -march=x86-64-v3"\n');
    const env = `${PARAMS}stages:\n  s:\n    runner: shell\n    env: { G: "\${{ params.greeting }}" }\n    script: echo "$G"\n`;
    for (const value of HOSTILE)
      assert.equal(resolvePipeline(parsePipeline(env, FILE), { greeting: value })[0]?.env["G"], value);
    assertRefused(env, { greeting: "a\0b" }, "NUL");
  });
});

void describe("resolve refuses templates in code even in a spec the parser did not check", () => {
  void test("a script, and env variables bash or the loader read as code", () => {
    const spec = parsePipeline(`${PARAMS}stages:\n  s:\n    runner: shell\n    script: "true"\n`, FILE);
    const [stage] = spec.stages;
    assert.ok(stage !== undefined);
    const withScript = { ...spec, stages: [{ ...stage, script: "echo ${{ params.greeting }}" }] };
    assertRefused2(() => resolvePipeline(withScript, {}), "inside a script would become shell code");
    const bashEnv = `${PARAMS}stages:\n  s:\n    runner: shell\n    env: { BASH_ENV: "/x/\${{ params.greeting }}" }\n    script: "true"\n`;
    assertRefused(bashEnv, {}, 'env "BASH_ENV": ${{ params.greeting }} in env BASH_ENV', "set it literally");
    const ldPreload = `${PARAMS}env: { LD_PRELOAD: "\${{ params.greeting }}" }\nstages:\n  s:\n    runner: shell\n    script: "true"\n`;
    assertRefused(ldPreload, { greeting: "/tmp/evil.so" }, "in env LD_PRELOAD");
  });
});

void describe("shellQuoteAt", () => {
  const at = (text: string) => shellQuoteAt(text.replace("@", ""), text.indexOf("@"));
  void test("double quotes, and everything else", () => {
    assert.equal(at('A="@"'), "double");
    assert.equal(at('A="x \\" @"'), "double");
    assert.equal(at('A=\'"\' B="@"'), "double");
    assert.equal(at('A="${X}@"'), "double");
    assert.equal(at('A="x"\nB="@"'), "double");
    assert.equal(at("A=@"), "elsewhere");
    assert.equal(at("A='@'"), "elsewhere");
    assert.equal(at("A=$'@'"), "elsewhere");
    assert.equal(at('A="x"@'), "elsewhere");
    assert.equal(at('# A="@"'), "elsewhere");
    assert.equal(at('A="$(echo @)"'), "elsewhere");
    assert.equal(at('A="`echo @`"'), "elsewhere");
    assert.equal(at('A="${X:-@}"'), "elsewhere");
    assert.equal(at('A=\\"@"'), "elsewhere");
    assert.equal(at('A="$(echo "x")@"'), "double");
    assert.equal(at('A="a#b @"'), "double");
  });
});

void describe("withTemplateContext", () => {
  void test("portage files by name: line-based ones and shell-syntax ones", () => {
    const t = (path: Array<string | number>) => withTemplateContext("emerge", path).t;
    assert.equal(t(["configs", 0, "make_conf"]), "shell-dq");
    assert.equal(t(["configs", 0, "package_accept_keywords"]), "line");
    assert.equal(t(["configs", 0, "files", "package.use/zz"]), "line");
    assert.equal(t(["configs", 0, "files", "repos.conf/gentoo.conf"]), "line");
    assert.equal(t(["configs", 0, "files", "bashrc"]), "shell-dq");
    assert.equal(t(["configs", 0, "profile", "package.use.force"]), "line");
    assert.equal(t(["configs", 0, "profile", "make.defaults"]), "shell-dq");
    assert.equal(t(["configs", 0, "make_profile", "files", "parent"]), "line");
    assert.equal(t(["configs", 0, "make_profile", "files", "profile.bashrc"]), "shell-dq");
    assert.equal(t(["configs", 0, "make_profile", "link"]), "data");
    assert.equal(t(["env_d", "99local"]), "shell-dq");
    assert.equal(t(["emerge", 0, "args", 1]), "data");
    assert.equal(t(["emerge", 0, "env", "USE"]), "data");
    assert.equal(t(["emerge", 0, "command"]), "code");
    assert.equal(withTemplateContext("shell", ["anything"]).t, "data");
    assert.equal(withTemplateContext("catalyst", ["releng_edits", 0, "file"]).t, "data");
    assert.equal(withTemplateContext("catalyst", ["releng_edits", 0, "replace_line", 0, "with"]).t, "code");
  });
});
