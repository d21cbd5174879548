/**
 * The emerge runner in host mode, running the emerge double (test/doubles/emerge-double.sh):
 * config files land where portage reads them, the env reaches emerge, jobs, failures, paths.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEmergeRunner } from "../../agent/runners/emerge/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { EMERGE_DOUBLE, emergeContext, emergeStage } from "../helpers/emerge-stage.js";
import { poll } from "../helpers/poll.js";

/** The key=value record the double leaves in ROOT/usr/share/<pn>/installed-by-double. */
async function record(root: string, pn: string): Promise<Record<string, string>> {
  const text = await readFile(join(root, "usr/share", pn, "installed-by-double"), "utf8");
  return Object.fromEntries(
    text
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

const HOST_ENV = { ROOT: "gentoo", PORTAGE_CONFIGROOT: "cfg" };

void describe("emerge runner, host mode", () => {
  let dir: string;
  let store: FsArtifactStore;
  let envUpdate: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-emerge-"));
    store = await FsArtifactStore.open(join(dir, "store"));
    // A stub env-update, as the real one would: env.d → etc/profile.env under ROOT.
    envUpdate = join(dir, "env-update-stub");
    await writeFile(
      envUpdate,
      '#!/bin/bash\nset -e\necho "env-update stub: ROOT=$ROOT"\ncat "$ROOT"/etc/env.d/* > "$ROOT/etc/profile.env"\n',
    );
    await chmod(envUpdate, 0o755);
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const runner = createEmergeRunner({ emergeCommand: EMERGE_DOUBLE, loadAverage: 5, killGraceMs: 300 });
  const runnerWithEnvUpdate = (): ReturnType<typeof createEmergeRunner> =>
    createEmergeRunner({
      emergeCommand: EMERGE_DOUBLE,
      envUpdateCommand: envUpdate,
      loadAverage: 5,
      killGraceMs: 300,
    });

  void test("config files are written where portage reads them and the double reads them (linked profile)", async () => {
    const w = {
      configs: [
        {
          config_root: "cfg",
          make_conf: 'USE="prefix multilib"\nFEATURES="-news"\n',
          make_profile: { link: "../../../profiles/bootstrap" },
          package_use: "sys-devel/gcc -sanitize -fortran\n",
          package_mask: ">=sys-devel/gcc-14\n",
          package_unmask: "sys-apps/portage\n",
          package_accept_keywords: "dev-util/catalyst\n",
          package_license: "*/* @FREE\n",
          package_env: "sys-devel/gcc gcc.conf\n",
          env: {
            "sys-devel/gcc": "EXTRA_ECONF='--with-sysroot=$EPREFIX/usr/$CTARGET --enable-threads'\n",
            "gcc.conf": "X=1\n",
          },
          profile: { "package.provided": "sys-apps/sed-4.0.5\n" },
          files: { "repos.conf/gentoo.conf": "[gentoo]\nlocation = /var/db/repos/gentoo\n" },
        },
      ],
      emerge: [{ args: ["-O1", "sys-devel/gcc", "sys-apps/sed"], env: { USE: "-multilib cxx" } }],
    };
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    await mkdir(join(ctx.workspace, "profiles/bootstrap"), { recursive: true });
    await writeFile(
      join(ctx.workspace, "profiles/bootstrap/make.defaults"),
      'ARCH="x86"\nUSE="kernel_linux build"\n',
    );

    await runner.run(ctx);

    const etc = join(ctx.workspace, "cfg/etc/portage");
    assert.equal(await readFile(join(etc, "make.conf"), "utf8"), w.configs[0]?.make_conf);
    assert.equal(await readlink(join(etc, "make.profile")), "../../../profiles/bootstrap");
    for (const [file, content] of [
      ["package.use", "sys-devel/gcc -sanitize -fortran\n"],
      ["package.mask", ">=sys-devel/gcc-14\n"],
      ["package.unmask", "sys-apps/portage\n"],
      ["package.accept_keywords", "dev-util/catalyst\n"],
      ["package.license", "*/* @FREE\n"],
      ["package.env", "sys-devel/gcc gcc.conf\n"],
      ["env/gcc.conf", "X=1\n"],
      ["profile/package.provided", "sys-apps/sed-4.0.5\n"],
      ["repos.conf/gentoo.conf", "[gentoo]\nlocation = /var/db/repos/gentoo\n"],
    ] as const)
      assert.equal(await readFile(join(etc, file), "utf8"), content, file);
    assert.match(output(), /^wrote cfg\/etc\/portage\/make\.conf$/m);
    assert.match(
      output(),
      /^linked cfg\/etc\/portage\/make\.profile -> \.\.\/\.\.\/\.\.\/profiles\/bootstrap$/m,
    );
    assert.match(output(), /^wrote cfg\/etc\/portage\/env\/sys-devel\/gcc$/m);

    const gentoo = join(ctx.workspace, "gentoo");
    const gcc = await record(gentoo, "gcc");
    assert.equal(gcc["profile"], "link:../../../profiles/bootstrap");
    assert.equal(gcc["config_root"], join(ctx.workspace, "cfg"));
    assert.equal(gcc["root"], gentoo);
    // make.defaults, make.conf, package.use, then the invocation's USE.
    assert.equal(gcc["use"], "build cxx kernel_linux prefix");
    assert.equal(gcc["env_files"], "env/gcc.conf env/sys-devel/gcc");
    assert.equal(
      await readFile(join(gentoo, "var/db/pkg/sys-devel/gcc-1.0/CATEGORY"), "utf8"),
      "sys-devel\n",
    );
    assert.equal(await readFile(join(gentoo, "var/db/pkg/sys-devel/gcc-1.0/PF"), "utf8"), "gcc-1.0\n");
    assert.match(output(), /emerge-double: sys-apps\/sed: provided by profile\/package\.provided/);
    assert.equal(await exists(join(gentoo, "var/db/pkg/sys-apps")), false);
  });

  void test("a directory profile replaces a linked one; package.use as a directory gets our file", async () => {
    const w = {
      configs: [
        {
          config_root: "cfg",
          make_profile: {
            files: { "make.defaults": 'USE="elibc_musl"\nFEATURES="buildpkg"\n', parent: "..\n" },
          },
          package_use: "app-arch/lzip static\n",
        },
      ],
      emerge: [{ args: ["app-arch/lzip"] }],
    };
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    const etc = join(ctx.workspace, "cfg/etc/portage");
    await mkdir(join(etc, "package.use"), { recursive: true });
    await writeFile(join(etc, "package.use/00-input"), "app-arch/lzip -nls\n");
    await symlink("/var/db/repos/gentoo/profiles/default/linux/amd64/23.0", join(etc, "make.profile"));

    await runner.run(ctx);

    assert.ok((await lstat(join(etc, "make.profile"))).isDirectory());
    assert.equal(await readFile(join(etc, "make.profile/parent"), "utf8"), "..\n");
    assert.equal(await readFile(join(etc, "package.use/zz-stagefarm"), "utf8"), "app-arch/lzip static\n");
    assert.match(output(), /^wrote cfg\/etc\/portage\/package\.use\/zz-stagefarm$/m);
    const lzip = await record(join(ctx.workspace, "gentoo"), "lzip");
    assert.equal(lzip["profile"], "dir");
    assert.equal(lzip["use"], "elibc_musl static");
    assert.equal(lzip["features"], "buildpkg");
    assert.equal(
      await readFile(join(ctx.workspace, "gentoo/var/lib/portage/world"), "utf8"),
      "app-arch/lzip\n",
    );
  });

  void test("each invocation's env reaches emerge; the log names it", async () => {
    const w = {
      configs: [{ config_root: "cfg", make_conf: "" }],
      emerge: [
        { args: ["-O1", "sys-kernel/linux-headers"], env: { EPREFIX: "/cross", USE: "headers-only" } },
        {
          args: ["-O1n", "sys-apps/baselayout"],
          env: { ROOT: "target", SYSROOT: "target", PORTAGE_CONFIGROOT: "cfg" },
        },
      ],
    };
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store, { jobs: 3 });
    await runner.run(ctx);

    const headers = await record(join(ctx.workspace, "gentoo/cross"), "linux-headers");
    assert.equal(headers["eprefix"], "/cross");
    assert.equal(headers["use"], "headers-only");
    assert.equal(headers["args"], "--jobs=1 --load-average=5 -O1 sys-kernel/linux-headers");
    assert.ok(await exists(join(ctx.workspace, "gentoo/cross/var/db/pkg/sys-kernel/linux-headers-1.0")));
    const baselayout = await record(join(ctx.workspace, "target"), "baselayout");
    assert.equal(baselayout["sysroot"], join(ctx.workspace, "target"));
    assert.equal(baselayout["root"], join(ctx.workspace, "target"));
    assert.match(
      output(),
      /^>>> emerge 1\/2: EPREFIX=\/cross USE=headers-only ROOT=\S+\/gentoo PORTAGE_CONFIGROOT=\S+\/cfg MAKEOPTS='-j3 -l5' \S+emerge-double\.sh --jobs=1 --load-average=5 -O1 sys-kernel\/linux-headers$/m,
    );
    assert.match(
      output(),
      /^>>> emerge 2\/2: ROOT=\S+\/target SYSROOT=\S+\/target PORTAGE_CONFIGROOT=\S+\/cfg /m,
    );
  });

  void test("MAKEOPTS and --jobs come from the slots unless the invocation sets them", async () => {
    const w = {
      configs: [
        {
          config_root: "cfg",
          make_conf: 'MAKEOPTS="-j99"\nEMERGE_DEFAULT_OPTS="--jobs 6 --load-average 14.0 --usepkg"\n',
        },
      ],
      emerge: [
        { args: ["-1", "dev-build/make"] },
        {
          args: ["-1", "app-arch/lzip"],
          env: { MAKEOPTS: "-j1", EMERGE_DEFAULT_OPTS: "--jobs=1 --keep-going" },
        },
        { args: ["--jobs=1", "-1", "app-arch/xz-utils"] },
      ],
    };
    const { ctx } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store, { jobs: 6 });
    await runner.run(ctx);
    // make.conf's EMERGE_DEFAULT_OPTS reaches emerge (its --usepkg applies), the slots' jobs
    // come after it on the command line and win, as emerge reads them
    const make = await record(join(ctx.workspace, "gentoo"), "make");
    assert.equal(make["makeopts"], "-j6 -l5");
    assert.equal(make["emerge_default_opts"], "--jobs 6 --load-average 14.0 --usepkg");
    assert.equal(make["usepkg"], "yes");
    assert.equal(make["jobs"], "3");
    assert.equal(make["load_average"], "5");
    const lzip = await record(join(ctx.workspace, "gentoo"), "lzip");
    assert.equal(lzip["makeopts"], "-j1");
    assert.equal(lzip["emerge_default_opts"], "--jobs=1 --keep-going");
    assert.equal(lzip["usepkg"], "no", "the pipeline's own EMERGE_DEFAULT_OPTS replaces make.conf's");
    assert.equal(lzip["jobs"], "1");
    const xz = await record(join(ctx.workspace, "gentoo"), "xz-utils");
    assert.equal(xz["jobs"], "1", "an invocation's own --jobs wins over the slots'");
    assert.equal(xz["usepkg"], "yes");
  });

  void test("a masked atom fails the stage naming the invocation, its status and emerge's words", async () => {
    const w = {
      configs: [{ config_root: "cfg", package_mask: "sys-apps/forbidden\n" }],
      emerge: [
        { args: ["-1", "sys-apps/fine"] },
        { args: ["-1", "sys-apps/forbidden"] },
        { args: ["-1", "sys-apps/later"] },
      ],
    };
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    const err = await runner.run(ctx).then(
      () => assert.fail("expected the stage to fail"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StagefarmError);
    assert.equal(err.code, "stage_failed");
    assert.equal(
      err.message,
      `stage "cross": emerge invocation 2/3 (${EMERGE_DOUBLE} --jobs=2 --load-average=5 -1 sys-apps/forbidden) exited with status 1`,
    );
    assert.equal(err.details["exitCode"], 1);
    assert.match(
      String(err.details["logTail"]),
      /- sys-apps\/forbidden-1\.0::gentoo \(masked by: package\.mask\)/,
    );
    assert.doesNotMatch(
      String(err.details["logTail"]),
      /sys-apps\/fine/,
      "the tail is the failing invocation's",
    );
    assert.ok(await exists(join(ctx.workspace, "gentoo/var/db/pkg/sys-apps/fine-1.0")));
    assert.equal(await exists(join(ctx.workspace, "gentoo/var/db/pkg/sys-apps/later-1.0")), false);
    assert.doesNotMatch(output(), />>> emerge 3\/3/);
  });

  void test("env_d is written under ROOT and env-update runs before the emerges", async () => {
    const w = {
      configs: [{ config_root: "cfg", make_conf: "" }],
      env_d: { "50baselayout": "PATH=/cross/usr/bin:/usr/bin" },
      emerge: [{ args: ["-1", "sys-devel/binutils-config"] }],
    };
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    await runnerWithEnvUpdate().run(ctx);
    const gentoo = join(ctx.workspace, "gentoo");
    assert.equal(
      await readFile(join(gentoo, "etc/env.d/50baselayout"), "utf8"),
      "PATH=/cross/usr/bin:/usr/bin\n",
    );
    assert.equal(await readFile(join(gentoo, "etc/profile.env"), "utf8"), "PATH=/cross/usr/bin:/usr/bin\n");
    const text = output();
    assert.match(text, /^wrote gentoo\/etc\/env\.d\/50baselayout$/m);
    assert.ok(text.indexOf(`env-update stub: ROOT=${gentoo}`) > 0);
    assert.ok(text.indexOf("env-update stub") < text.indexOf(">>> emerge 1/1"));
  });

  void test("host-mode paths: ROOT=/ is refused before anything runs", async () => {
    const w = {
      configs: [{ config_root: "cfg", make_conf: "" }],
      emerge: [{ args: ["-1", "sys-apps/sed"], env: { ROOT: "/" } }],
    };
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    await assert.rejects(runner.run(ctx), (e: unknown) => {
      assert.ok(e instanceof StagefarmError);
      assert.equal(e.code, "invalid_pipeline");
      assert.match(
        e.message,
        /^stage "cross" \(runner emerge\): with\.emerge\[0\]\.env\.ROOT: ROOT "\/" is absolute: in host mode/,
      );
      return true;
    });
    assert.equal(output(), "");
    assert.equal(await exists(join(ctx.workspace, "cfg")), false);
  });

  void test("host-mode paths: a ROOT leading out of the workspace through a symlink is refused", async () => {
    const w = {
      configs: [{ config_root: "cfg", make_conf: "" }],
      emerge: [{ args: ["-1", "sys-apps/sed"] }],
    };
    const { ctx, output } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    const outside = await mkdtemp(join(dir, "outside-"));
    await symlink(outside, join(ctx.workspace, "gentoo"));
    await assert.rejects(runner.run(ctx), (e: unknown) => {
      assert.ok(e instanceof StagefarmError);
      assert.equal(e.code, "unsafe_archive");
      assert.match(e.message, /^stage "cross" emerge invocation 1\/1 ROOT: .* leads outside the workspace/);
      return true;
    });
    assert.doesNotMatch(output(), /^emerge-double:/m);
    assert.equal(await exists(join(outside, "var")), false);
  });

  void test("host-mode paths: a config root leading out of the workspace is refused", async () => {
    const w = {
      configs: [{ config_root: "cfg", make_conf: "x" }],
      emerge: [{ args: ["-1", "sys-apps/sed"] }],
    };
    const { ctx } = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store);
    const outside = await mkdtemp(join(dir, "outside-"));
    await symlink(outside, join(ctx.workspace, "cfg"));
    await assert.rejects(
      runner.run(ctx),
      (e: unknown) => e instanceof StagefarmError && e.code === "unsafe_archive",
    );
    assert.equal(await exists(join(outside, "etc")), false);
  });

  void test("the stage timeout ends a running invocation; a cancel does too; both name it", async () => {
    const w = {
      configs: [{ config_root: "cfg", make_conf: "" }],
      emerge: [{ args: ["sys-devel/gcc"], command: "./slow.sh" }],
    };
    const slow = async (workspace: string): Promise<void> => {
      await writeFile(join(workspace, "slow.sh"), "#!/bin/bash\necho building\nexec sleep 30\n");
      await chmod(join(workspace, "slow.sh"), 0o755);
    };
    const timed = await emergeContext(dir, emergeStage(w, { env: HOST_ENV, timeoutMs: 1500 }), store);
    await slow(timed.ctx.workspace);
    await assert.rejects(runner.run(timed.ctx), (e: unknown) => {
      assert.ok(e instanceof StagefarmError);
      assert.equal(e.code, "timeout");
      assert.match(
        e.message,
        /^stage "cross" timed out after \S+ during emerge invocation 1\/1 \(\.\/slow\.sh --jobs=2 --load-average=5 sys-devel\/gcc\)$/,
      );
      assert.match(String(e.details["logTail"]), /building/);
      return true;
    });

    const abort = new AbortController();
    const cancelled = await emergeContext(dir, emergeStage(w, { env: HOST_ENV }), store, {
      signal: abort.signal,
    });
    await slow(cancelled.ctx.workspace);
    const running = runner.run(cancelled.ctx);
    await poll(() => cancelled.output().includes("building"), {
      timeoutMs: 10_000,
      what: "emerge to start building",
    });
    abort.abort();
    await assert.rejects(running, (e: unknown) => {
      assert.ok(e instanceof StagefarmError);
      assert.equal(e.code, "cancelled");
      assert.equal(
        e.message,
        'stage "cross" was cancelled during emerge invocation 1/1 (./slow.sh --jobs=2 --load-average=5 sys-devel/gcc)',
      );
      return true;
    });
  });
});
