/** The emerge stage's `with`: the accepted shapes, the defaults per mode, and every refusal. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { StagefarmError } from "../../shared/errors.js";
import {
  parseEmergeWith,
  portageConfigEntries,
  type EmergeWith,
} from "../../shared/runner-config/testing.js";
import { argProblem } from "../../shared/runner-config/testing.js";
import { emergeStage } from "../helpers/emerge-stage.js";

function parse(w: Record<string, unknown>, env: Record<string, string> = {}): EmergeWith {
  return parseEmergeWith(emergeStage(w, { env }));
}

/** The problems of an invalid `with`, as listed in the error's details. */
function problems(w: Record<string, unknown>, env: Record<string, string> = {}): string[] {
  try {
    parse(w, env);
  } catch (err: unknown) {
    assert.ok(err instanceof StagefarmError);
    assert.equal(err.code, "invalid_pipeline");
    assert.match(err.message, /^stage "cross" \(runner emerge\):/);
    return err.details["problems"] as string[];
  }
  return assert.fail("expected the with to be refused");
}

const CROSS = {
  root: "rootfs",
  configs: [
    {
      config_root: "/cross",
      make_conf: 'USE="prefix multilib"\n',
      make_profile: { link: "/etc/portage/make.profile" },
      package_use: "sys-devel/gcc -sanitize -fortran\n",
      package_mask: ">=sys-devel/gcc-14\n",
      env: { "sys-devel/gcc": "EXTRA_ECONF='--with-sysroot=$EPREFIX/usr/$CTARGET --enable-threads'\n" },
    },
  ],
  env_d: { "50baselayout": "PATH=/cross/usr/bin:/usr/bin" },
  emerge: [
    {
      args: ["-O1", "sys-kernel/linux-headers"],
      env: { PORTAGE_CONFIGROOT: "/cross", EPREFIX: "/cross", USE: "headers-only" },
    },
    {
      args: ["-D1n", "app-arch/lzip", "dev-build/make"],
      env: { MAKEOPTS: "-j1" },
      command: "./portage/bin/emerge",
      cwd: "/tmp",
    },
  ],
};

void describe("emerge with: accepted", () => {
  void test("the procedure's cross step in chroot mode, with the chroot defaults", () => {
    const w = parse(CROSS);
    assert.equal(w.root, "rootfs");
    assert.equal(w.login, true);
    assert.equal(w.dev, "minimal");
    assert.equal(w.pkgdir, "/var/cache/binpkgs");
    assert.equal(w.configs[0]?.config_root, "/cross");
    assert.equal(w.emerge[1]?.command, "./portage/bin/emerge");
    assert.deepEqual(w.emerge[0]?.env, {
      PORTAGE_CONFIGROOT: "/cross",
      EPREFIX: "/cross",
      USE: "headers-only",
    });
  });

  void test("chroot mode: /dev may be the host's devtmpfs, as the procedure's native steps have it", () => {
    const w = parse({ root: "r", dev: "devtmpfs", emerge: [{ args: ["-e", "@system"] }] });
    assert.equal(w.dev, "devtmpfs");
    assert.throws(
      () => parse({ root: "r", dev: "udev", emerge: [{ args: ["-e", "@system"] }] }),
      /with\.dev/,
    );
  });

  void test("chroot mode: config_root defaults to /", () => {
    const w = parse({
      root: "r",
      configs: [{ package_mask: "*/*\n" }],
      emerge: [{ args: ["sys-apps/portage"] }],
    });
    assert.equal(w.configs[0]?.config_root, "/");
  });

  void test("host mode: workspace-relative paths, pkgdir defaults to binpkgs", () => {
    const w = parse({
      configs: [{ config_root: "cfg", make_profile: { files: { "make.defaults": 'ARCH="x86"\n' } } }],
      emerge: [{ args: ["-1", "sys-apps/sed"], env: { ROOT: "gentoo", PORTAGE_CONFIGROOT: "cfg" } }],
      binhost: { name: "amd64-23" },
    });
    assert.equal(w.pkgdir, "binpkgs");
    assert.deepEqual(w.binhost, { name: "amd64-23", use: true, publish: true });
  });

  void test('binhost use/publish: a boolean, or "true"/"false" as a param gives it', () => {
    const w = (binhost: Record<string, unknown>) => ({ root: "r", emerge: [{ args: ["a/b"] }], binhost });
    assert.deepEqual(parse(w({ name: "b", use: "false" })).binhost, { name: "b", use: false, publish: true });
    assert.deepEqual(parse(w({ name: "b", use: "true", publish: false })).binhost, {
      name: "b",
      use: true,
      publish: false,
    });
    assert.deepEqual(problems(w({ name: "b", use: "no" })), [
      'with.binhost.use: must be true or false (or "true"/"false" from a param)',
    ]);
  });

  void test("host mode: ROOT and PORTAGE_CONFIGROOT may come from the stage's env", () => {
    const w = parse({ emerge: [{ args: ["sys-apps/sed"] }] }, { ROOT: "gentoo", PORTAGE_CONFIGROOT: "cfg" });
    assert.equal(w.emerge.length, 1);
  });

  void test("numbers and booleans in env become strings", () => {
    const w = parse({ root: "r", emerge: [{ args: ["x/y"], env: { SKIP_KERNEL_CHECK: 1, FOO: true } }] });
    assert.deepEqual(w.emerge[0]?.env, { SKIP_KERNEL_CHECK: "1", FOO: "true" });
  });

  void test("config entries in writing order, relative to etc/portage", () => {
    const entries = portageConfigEntries({
      make_conf: "a",
      package_unmask: "b",
      make_profile: { files: { "make.defaults": "c" } },
      env: { "sys-devel/gcc": "d" },
      profile: { "package.provided": "e" },
      files: { "repos.conf/gentoo.conf": "f" },
    });
    assert.deepEqual(
      entries.map((e) => `${e.t}:${e.rel}`),
      [
        "file:make.conf",
        "file:package.unmask",
        "dir:make.profile",
        "file:env/sys-devel/gcc",
        "file:profile/package.provided",
        "file:repos.conf/gentoo.conf",
      ],
    );
  });
});

void describe("emerge with: refused", () => {
  void test("host mode refuses ROOT=/ and an absolute config_root, naming the key path", () => {
    const p = problems({
      configs: [{ config_root: "/etc-copy" }],
      emerge: [{ args: ["sys-apps/sed"], env: { ROOT: "/", PORTAGE_CONFIGROOT: "cfg" } }],
    });
    assert.equal(p.length, 2);
    assert.match(
      p[0] ?? "",
      /^with\.configs\[0\]\.config_root: config_root "\/etc-copy" is absolute: in host mode/,
    );
    assert.match(
      p[1] ?? "",
      /^with\.emerge\[0\]\.env\.ROOT: ROOT "\/" is absolute: in host mode it must be a path in the workspace/,
    );
  });

  void test("host mode needs ROOT and PORTAGE_CONFIGROOT, and a config_root", () => {
    const p = problems({ configs: [{ make_conf: "" }], emerge: [{ args: ["sys-apps/sed"] }] });
    assert.deepEqual(p, [
      "with.configs[0].config_root: is required in host mode (a directory in the workspace)",
      "with.emerge[0].env: ROOT is required in host mode (a workspace directory), or emerge would use the agent's own /",
      "with.emerge[0].env: PORTAGE_CONFIGROOT is required in host mode (a workspace directory), or emerge would use the agent's own /etc/portage",
    ]);
  });

  void test("host mode refuses .. in a path; the stage's env is named as the source", () => {
    const p = problems(
      { emerge: [{ args: ["x/y"], env: { PORTAGE_CONFIGROOT: "cfg" } }] },
      { ROOT: "../outside" },
    );
    assert.equal(p.length, 1);
    assert.match(
      p[0] ?? "",
      /^with\.emerge\[0\]\.env: path "\.\.\/outside" must not contain "\.\." components/,
    );
  });

  void test("chroot mode wants absolute, normalised paths; EPREFIX is absolute in both modes", () => {
    const p = problems({
      root: "rootfs",
      pkgdir: "binpkgs",
      emerge: [
        { args: ["x/y"], env: { ROOT: "/gentoo/", SYSROOT: "/a/../b", EPREFIX: "cross" }, cwd: "tmp" },
      ],
    });
    assert.equal(p.length, 5);
    assert.match(
      p.join("\n"),
      /with\.pkgdir: path "binpkgs" must be absolute \(in chroot mode pkgdir is a path inside the rootfs\)/,
    );
    assert.match(p.join("\n"), /with\.emerge\[0\]\.cwd: path "tmp" must be absolute/);
    assert.match(
      p.join("\n"),
      /with\.emerge\[0\]\.env\.ROOT: path "\/gentoo\/" is not normalised; write "\/gentoo"/,
    );
    assert.match(
      p.join("\n"),
      /with\.emerge\[0\]\.env\.SYSROOT: path "\/a\/\.\.\/b" must not contain "\.\." components/,
    );
    assert.match(
      p.join("\n"),
      /with\.emerge\[0\]\.env\.EPREFIX: path "cross" must be absolute \(EPREFIX is a prefix inside ROOT\)/,
    );
  });

  void test("unknown keys are named, with a suggestion", () => {
    const p = problems({
      root: "r",
      configs: [{ package_usee: "x", packageuse: "y" }],
      emerge: [{ args: ["x/y"], enf: {} }],
    });
    assert.ok(
      p.includes(
        'with.configs[0]: unknown key "package_usee" (did you mean "package_use"?); unknown key "packageuse" (did you mean "package_use"?)',
      ),
      p.join("\n"),
    );
    assert.ok(p.includes('with.emerge[0]: unknown key "enf" (did you mean "env"?)'), p.join("\n"));
  });

  void test("wrong types and missing keys", () => {
    const p = problems({ root: 3, login: "yes", emerge: [] });
    assert.deepEqual(p, [
      "with.root: Invalid input: expected string, received number",
      "with.login: Invalid input: expected boolean, received string",
      "with.emerge: needs at least one invocation",
    ]);
    assert.deepEqual(problems({ root: "r" }), [
      "with.emerge: Invalid input: expected array, received undefined",
    ]);
  });

  void test("shell syntax in args is refused, each argument named", () => {
    const p = problems({
      root: "r",
      emerge: [{ args: ["sys-apps/sed; rm -rf /", "$(reboot)", "`id`", "--jobs=4", "-D1n", "a'b", ""] }],
    });
    assert.deepEqual(
      p.map((s) => s.slice(0, s.indexOf(":"))),
      [
        "with.emerge[0].args[0]",
        "with.emerge[0].args[1]",
        "with.emerge[0].args[2]",
        "with.emerge[0].args[5]",
        "with.emerge[0].args[6]",
      ],
    );
    assert.match(p[0] ?? "", /contains whitespace \(give each option and atom as its own list item\)/);
    assert.match(p[1] ?? "", /shell syntax such as \$, quotes, ; or \| is not interpreted/);
  });

  void test("argProblem accepts what the procedure writes", () => {
    for (const a of [
      "-O1",
      "-D1n",
      "--oneshot",
      "--jobs=6",
      "--load-average=14.0",
      "-avuDN",
      "@world",
      "@system",
      ">=sys-devel/gcc-14",
      "=sys-libs/glibc-2.40*",
      "~dev-lang/perl-5.38.2",
      "dev-lang/python:3.12",
      "sys-apps/portage::gentoo",
      "dev-libs/libsigc++",
      "dev-lang/python[ssl(+),-ensurepip]",
      "4",
    ])
      assert.equal(argProblem(a), undefined, a);
    for (const a of ["--jobs=$(nproc)", "-x;y", "sys apps", "a|b", "a&b", "a\nb", "--foo=a b", "--=x"])
      assert.notEqual(argProblem(a), undefined, a);
  });

  void test("PKGDIR in an invocation's env points to with.pkgdir", () => {
    const p = problems({ root: "r", emerge: [{ args: ["x/y"], env: { PKGDIR: "/var/tmp/p" } }] });
    assert.deepEqual(p, [
      "with.emerge[0].env.PKGDIR: set the package directory with with.pkgdir (its packages are collected from there)",
    ]);
  });

  void test("invalid env names, env.d names, commands and binhost names", () => {
    const p = problems({
      root: "r",
      env_d: { "../x": "PATH=/bin" },
      emerge: [{ args: ["x/y"], env: { "1BAD": "x" }, command: "emerge; reboot" }],
      binhost: { name: "Bad Name" },
    });
    assert.equal(p.length, 4, p.join("\n"));
    assert.match(p.join("\n"), /with\.env_d\.\.\.\/x: invalid env\.d file name "\.\.\/x"/);
    assert.match(p.join("\n"), /with\.emerge\[0\]\.env\.1BAD: invalid environment variable name "1BAD"/);
    assert.match(
      p.join("\n"),
      /with\.emerge\[0\]\.command: command "emerge; reboot" must be a program name or path/,
    );
    assert.match(p.join("\n"), /with\.binhost\.name: use lowercase letters/);
  });

  void test("make_profile takes link or files, not both or neither", () => {
    assert.deepEqual(problems({ root: "r", configs: [{ make_profile: {} }], emerge: [{ args: ["x/y"] }] }), [
      "with.configs[0].make_profile: give either link (a symlink target) or files (the profile directory's files)",
    ]);
    assert.equal(
      problems({
        root: "r",
        configs: [{ make_profile: { link: "a", files: {} } }],
        emerge: [{ args: ["x/y"] }],
      }).length,
      1,
    );
  });

  void test("config files written twice, escaping keys, or a config_root configured twice", () => {
    const p = problems({
      root: "r",
      configs: [
        {
          make_conf: "a",
          files: { "make.conf": "b", "../../etc/passwd": "x" },
          make_profile: { link: "/x" },
          profile: { "/abs": "y" },
        },
        { files: { "make.profile/parent": "z" }, make_profile: { link: "/y" } },
      ],
      emerge: [{ args: ["x/y"] }],
    });
    const text = p.join("\n");
    assert.match(
      text,
      /with\.configs\[0\]\.files\.\.\.\/\.\.\/etc\/passwd: path "\.\.\/\.\.\/etc\/passwd" must not contain "\.\." components/,
    );
    assert.match(text, /with\.configs\[0\]\.profile\.\/abs: path "\/abs" must be relative to the directory/);
    const again = problems({
      root: "r",
      configs: [
        { make_conf: "a", files: { "make.conf": "b" } },
        { config_root: "/", package_use: "" },
      ],
      emerge: [{ args: ["x/y"] }],
    });
    assert.deepEqual(again, [
      "with.configs[0].files.make.conf: etc/portage/make.conf is also written by make_conf",
      'with.configs[1].config_root: "/" is already configured by configs[0]',
    ]);
    const nested = problems({
      root: "r",
      configs: [{ make_profile: { link: "/y" }, files: { "make.profile/parent": "z" } }],
      emerge: [{ args: ["x/y"] }],
    });
    assert.deepEqual(nested, [
      "with.configs[0].files.make.profile/parent: etc/portage/make.profile/parent is inside make.profile, written by make_profile.link",
    ]);
  });
});
