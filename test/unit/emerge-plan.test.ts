/** Planning an emerge stage: files to write, jobs, binhost flags, host path resolution, quoting. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { emergeJobDefaults, planEmerge, type EmergePlanOptions } from "../../agent/runners/emerge/testing.js";
import { commandLine, invocationScript, shQuote, writesScript } from "../../agent/runners/emerge/testing.js";
import { parseEmergeWith } from "../../shared/runner-config/testing.js";
import { emergeStage } from "../helpers/emerge-stage.js";

const CHROOT: EmergePlanOptions = { mode: { t: "chroot" }, jobs: 4, loadAverage: 8, emergeCommand: "emerge" };

function plan(
  w: Record<string, unknown>,
  opts: Partial<EmergePlanOptions> = {},
  env: Record<string, string> = {},
) {
  const stage = emergeStage(w, { env });
  return planEmerge(parseEmergeWith(stage), stage, { ...CHROOT, ...opts });
}

void describe("emerge plan", () => {
  void test("jobs: make gets the slots, emerge half of them, both the machine's load average", () => {
    assert.deepEqual(emergeJobDefaults(4, 8), {
      makeopts: "-j4 -l8",
      emergeArgs: ["--jobs=2", "--load-average=8"],
    });
    assert.deepEqual(emergeJobDefaults(1, 2), {
      makeopts: "-j1 -l2",
      emergeArgs: ["--jobs=1", "--load-average=2"],
    });
    assert.deepEqual(emergeJobDefaults(12, 12), {
      makeopts: "-j12 -l12",
      emergeArgs: ["--jobs=6", "--load-average=12"],
    });
  });

  void test("emerge's jobs are arguments before the invocation's own, never EMERGE_DEFAULT_OPTS in the environment", () => {
    // portage takes the environment over make.conf and EMERGE_DEFAULT_OPTS is not incremental:
    // an EMERGE_DEFAULT_OPTS of ours would hide the config's own (the procedure's --usepkg).
    const p = plan({
      root: "r",
      emerge: [{ args: ["-uDN", "@world"] }, { args: ["--jobs=1", "-D1n", "dev-build/make"] }],
    });
    const [one, two] = p.invocations;
    assert.deepEqual(one?.args, ["--jobs=2", "--load-average=8", "-uDN", "@world"]);
    assert.equal(one?.env["EMERGE_DEFAULT_OPTS"], undefined);
    assert.equal(one?.shownEnv["EMERGE_DEFAULT_OPTS"], undefined);
    // the invocation's own --jobs comes later on the command line, so it wins (serial make)
    assert.deepEqual(two?.args, ["--jobs=2", "--load-average=8", "--jobs=1", "-D1n", "dev-build/make"]);
  });

  void test("an invocation's env wins over the stage's env, which wins over the defaults; PKGDIR is with.pkgdir", () => {
    const p = plan(
      {
        root: "r",
        pkgdir: "/var/cache/pkgs",
        emerge: [{ args: ["a/b"], env: { MAKEOPTS: "-j1", USE: "x" } }, { args: ["c/d"] }],
      },
      {},
      { EMERGE_DEFAULT_OPTS: "--jobs=9", USE: "stage" },
    );
    const [one, two] = p.invocations;
    assert.deepEqual(one?.args, ["a/b"], "a pipeline's own EMERGE_DEFAULT_OPTS: no jobs arguments added");
    assert.equal(one?.env["MAKEOPTS"], "-j1");
    assert.equal(one?.env["USE"], "x");
    assert.equal(one?.env["EMERGE_DEFAULT_OPTS"], "--jobs=9");
    assert.equal(one?.env["PKGDIR"], "/var/cache/pkgs");
    assert.equal(two?.env["MAKEOPTS"], "-j4 -l8");
    assert.equal(two?.env["USE"], "stage");
    assert.deepEqual(one?.shownEnv, { MAKEOPTS: "-j1", USE: "x" });
    assert.deepEqual(two?.shownEnv, { MAKEOPTS: "-j4 -l8" });
    assert.equal(p.pkgdir, "/var/cache/pkgs");
    assert.equal(one?.cwd, "/");
    assert.equal(one?.command, "emerge");
  });

  void test("chroot mode writes config files at their paths inside the rootfs", () => {
    const p = plan({
      root: "r",
      configs: [
        {
          config_root: "/cross",
          make_conf: "M",
          make_profile: { link: "/etc/portage/make.profile" },
          env: { "sys-devel/gcc": "E" },
        },
        { make_profile: { files: { "make.defaults": "D" } }, profile: { "package.provided": "P" } },
      ],
      env_d: { "50baselayout": "PATH=/cross/usr/bin:/usr/bin" },
      emerge: [{ args: ["a/b"] }],
    });
    assert.deepEqual(p.writes, [
      { t: "file", path: "/cross/etc/portage/make.conf", content: "M", intoDir: "zz-stagefarm" },
      { t: "link", path: "/cross/etc/portage/make.profile", target: "/etc/portage/make.profile" },
      { t: "file", path: "/cross/etc/portage/env/sys-devel/gcc", content: "E" },
      { t: "dir", path: "/etc/portage/make.profile", files: { "make.defaults": "D" } },
      { t: "file", path: "/etc/portage/profile/package.provided", content: "P" },
      { t: "file", path: "/etc/env.d/50baselayout", content: "PATH=/cross/usr/bin:/usr/bin\n" },
    ]);
    assert.deepEqual(p.envUpdate, { root: undefined });
  });

  void test("host mode resolves config roots, ROOT, SYSROOT, PORTAGE_CONFIGROOT, pkgdir and cwd in the workspace", () => {
    const p = plan(
      {
        configs: [{ config_root: "cfg", package_mask: "*/*\n" }],
        env_d: { "50baselayout": "PATH=/usr/bin\n" },
        emerge: [
          { args: ["a/b"], env: { ROOT: "gentoo", SYSROOT: "gentoo", EPREFIX: "/cross" }, cwd: "src" },
        ],
      },
      { mode: { t: "host", workspace: "/w" } },
      { PORTAGE_CONFIGROOT: "cfg" },
    );
    const inv = p.invocations[0];
    assert.equal(inv?.env["ROOT"], "/w/gentoo");
    assert.equal(inv?.env["SYSROOT"], "/w/gentoo");
    assert.equal(inv?.env["PORTAGE_CONFIGROOT"], "/w/cfg");
    assert.equal(inv?.env["EPREFIX"], "/cross");
    assert.equal(inv?.env["PKGDIR"], "/w/binpkgs");
    assert.equal(inv?.cwd, "/w/src");
    assert.equal(p.pkgdir, "/w/binpkgs");
    assert.deepEqual(p.writes, [
      { t: "file", path: "/w/cfg/etc/portage/package.mask", content: "*/*\n", intoDir: "zz-stagefarm" },
      { t: "file", path: "/w/gentoo/etc/env.d/50baselayout", content: "PATH=/usr/bin\n" },
    ]);
    assert.deepEqual(p.envUpdate, { root: "/w/gentoo" });
  });

  void test("a binhost adds --getbinpkg once, FEATURES getbinpkg and buildpkg, and binrepos.conf in every config root", () => {
    const p = plan(
      {
        root: "r",
        configs: [{ config_root: "/cross", make_conf: "" }],
        emerge: [
          { args: ["-O1", "a/b"], env: { PORTAGE_CONFIGROOT: "/cross", FEATURES: "-sandbox" } },
          { args: ["-g", "c/d"], env: { PORTAGE_CONFIGROOT: "/gentoo.cfg" } },
          { args: ["e/f"] },
        ],
      },
      { binhost: { name: "farm", conf: "[farm]\nsync-uri = http://x/binhost/farm", buildpkg: true } },
    );
    assert.deepEqual(
      p.invocations.map((i) => i.args),
      [
        ["--getbinpkg", "--jobs=2", "--load-average=8", "-O1", "a/b"],
        ["--jobs=2", "--load-average=8", "-g", "c/d"],
        ["--getbinpkg", "--jobs=2", "--load-average=8", "e/f"],
      ],
    );
    assert.deepEqual(
      p.invocations.map((i) => i.env["FEATURES"]),
      ["-sandbox getbinpkg buildpkg", "getbinpkg buildpkg", "getbinpkg buildpkg"],
    );
    const confs = p.writes.filter((w) => w.t === "file").map((w) => [w.path, w.content]);
    assert.deepEqual(confs.slice(1), [
      ["/cross/etc/portage/binrepos.conf/stagefarm-farm.conf", "[farm]\nsync-uri = http://x/binhost/farm\n"],
      [
        "/gentoo.cfg/etc/portage/binrepos.conf/stagefarm-farm.conf",
        "[farm]\nsync-uri = http://x/binhost/farm\n",
      ],
      ["/etc/portage/binrepos.conf/stagefarm-farm.conf", "[farm]\nsync-uri = http://x/binhost/farm\n"],
    ]);
    assert.ok(p.writes.some((w) => w.t === "conf-dir" && w.path === "/gentoo.cfg/etc/portage/binrepos.conf"));
    // the stanzas are the agent's: removed again after the last invocation
    assert.deepEqual(p.afterwards, [
      { t: "remove", path: "/cross/etc/portage/binrepos.conf/stagefarm-farm.conf" },
      { t: "remove", path: "/gentoo.cfg/etc/portage/binrepos.conf/stagefarm-farm.conf" },
      { t: "remove", path: "/etc/portage/binrepos.conf/stagefarm-farm.conf" },
    ]);
  });

  void test("publish without use: buildpkg only, no --getbinpkg", () => {
    const p = plan({ root: "r", emerge: [{ args: ["a/b"] }] }, { binhost: { name: "farm", buildpkg: true } });
    assert.deepEqual(p.invocations[0]?.args, ["--jobs=2", "--load-average=8", "a/b"]);
    assert.equal(p.invocations[0]?.env["FEATURES"], "buildpkg");
    assert.deepEqual(p.writes, []);
    assert.deepEqual(p.afterwards, []);
  });
});

void describe("emerge shell text", () => {
  void test("quoting leaves plain words alone and single-quotes the rest", () => {
    assert.equal(shQuote("sys-devel/gcc"), "sys-devel/gcc");
    assert.equal(shQuote(">=sys-devel/gcc-14"), "'>=sys-devel/gcc-14'");
    assert.equal(shQuote("headers-only -multilib"), "'headers-only -multilib'");
    assert.equal(shQuote("it's $HOME `x`"), "'it'\\''s $HOME `x`'");
    assert.equal(shQuote(""), "''");
    assert.equal(
      commandLine({ USE: "-cxx x" }, "emerge", ["-O1", "sys-devel/gcc"]),
      "USE='-cxx x' emerge -O1 sys-devel/gcc",
    );
  });

  void test("an invocation script exports its env after the login profile and execs the command", () => {
    const text = invocationScript({
      index: 1,
      total: 1,
      command: "./portage/bin/emerge",
      args: ["-D1n", "app-arch/lzip"],
      env: { MAKEOPTS: "-j1", USE: "a b" },
      shownEnv: {},
      cwd: "/tmp",
    });
    assert.equal(
      text,
      "umask 022\nexport MAKEOPTS=-j1\nexport USE='a b'\ncd -- /tmp || exit 1\nexec ./portage/bin/emerge -D1n app-arch/lzip\n",
    );
  });

  void test("the writes script quotes every path and content", () => {
    const text = writesScript([{ t: "file", path: "/etc/portage/make.conf", content: "USE=\"$X\" 'q'\n" }]);
    assert.match(text, /^set -e\numask 022\np=\/etc\/portage\/make\.conf\n/);
    assert.ok(text.includes(`printf '%s' 'USE="$X" '\\''q'\\''\n' > "$p"`), text);
    const remove = writesScript([{ t: "remove", path: "/etc/portage/binrepos.conf/stagefarm-a b.conf" }]);
    assert.ok(remove.includes(`p='/etc/portage/binrepos.conf/stagefarm-a b.conf'\n`), remove);
    assert.ok(remove.includes(`rm -f -- "$p"`), remove);
  });
});
