/**
 * The emerge runner in chroot mode, in a real Debian chroot (debootstrap, made once per machine)
 * with the emerge double installed as /usr/bin/emerge (and as the procedure's ./portage/bin/emerge
 * under /tmp) and a stub env-update: the procedure's local-dependency and cross steps in small.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, copyFile, lstat, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEmergeRunner } from "../../agent/runners/emerge/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { unpackFile } from "../../shared/pack/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { debootstrapCache } from "../helpers/debootstrap.js";
import { EMERGE_DOUBLE, emergeContext, emergeStage } from "../helpers/emerge-stage.js";
import { hostMountsUnder } from "../helpers/leak-probes.js";

/** The stub env-update: env.d → /etc/profile.env, as exports a login shell reads. */
const ENV_UPDATE_STUB = `#!/bin/bash
set -e
: > /etc/profile.env
for f in /etc/env.d/*; do
  while IFS= read -r line; do echo "export $line" >> /etc/profile.env; done < "$f"
done
echo "env-update stub: wrote /etc/profile.env"
`;

async function record(root: string, pn: string): Promise<Record<string, string>> {
  const text = await readFile(join(root, "usr/share", pn, "installed-by-double"), "utf8");
  return Object.fromEntries(
    text
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

void describe("emerge runner, chroot mode", { timeout: 900_000 }, () => {
  let dir: string;
  let store: FsArtifactStore;
  let archive: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-emerge-chroot-"));
    store = await FsArtifactStore.open(join(dir, "store"));
    archive = (await debootstrapCache()).archive;
  });
  after(async () => {
    assert.deepEqual(await hostMountsUnder(dir), []);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A workspace holding the Debian rootfs at `rootfs/`, with the double and the stub installed. */
  async function rootfsContext(w: Record<string, unknown>) {
    const c = await emergeContext(dir, emergeStage(w), store, { jobs: 2 });
    const rootfs = join(c.ctx.workspace, "rootfs");
    await unpackFile(archive, rootfs);
    for (const target of ["usr/bin/emerge", "tmp/portage/bin/emerge"]) {
      await mkdir(join(rootfs, target, ".."), { recursive: true });
      await copyFile(EMERGE_DOUBLE, join(rootfs, target));
      await chmod(join(rootfs, target), 0o755);
    }
    await writeFile(join(rootfs, "usr/sbin/env-update"), ENV_UPDATE_STUB, { mode: 0o755 });
    // Gentoo's /etc/profile reads /etc/profile.env; Debian's reads /etc/profile.d/*.sh.
    await writeFile(
      join(rootfs, "etc/profile.d/zz-profile-env.sh"),
      "[ -r /etc/profile.env ] && . /etc/profile.env\n",
    );
    return { ...c, rootfs };
  }

  void test("the procedure's steps in small: config files, env-update, local and cross emerges, binpkgs", async () => {
    const w = {
      root: "rootfs",
      configs: [
        {
          make_conf: 'FEATURES="buildpkg"\n',
          make_profile: { files: { "make.defaults": 'ARCH="x86"\nUSE="kernel_linux elibc_musl build"\n' } },
          package_mask: "*/*\n",
          package_unmask: "app-arch/lzip\nsys-devel/binutils-config\n",
          package_use: "app-arch/lzip -nls\n",
          profile: { "package.provided": "sys-apps/sed-4.0.5\n" },
        },
        {
          config_root: "/cross",
          make_conf: 'USE="prefix multilib"\nCTARGET="x86_64-bootstrap-linux-gnu"\n',
          make_profile: { link: "/etc/portage/make.profile" },
          env: { "sys-devel/gcc": "EXTRA_ECONF='--with-sysroot=$EPREFIX/usr/$CTARGET --enable-threads'\n" },
        },
        { config_root: "/gentoo.cfg", make_conf: 'USE="-* build"\n' },
      ],
      env_d: { "50baselayout": "PATH=/cross/usr/bin:/usr/bin:/usr/sbin:/bin:/sbin" },
      emerge: [
        {
          args: ["-D1n", "app-arch/lzip", "sys-apps/sed"],
          env: { MAKEOPTS: "-j1" },
          command: "./portage/bin/emerge",
          cwd: "/tmp",
        },
        { args: ["-D1n", "sys-devel/binutils-config"] },
        {
          args: ["-O1", "sys-kernel/linux-headers"],
          env: { PORTAGE_CONFIGROOT: "/cross", EPREFIX: "/cross", USE: "headers-only" },
        },
        {
          args: ["-O1n", "sys-apps/baselayout"],
          env: { PORTAGE_CONFIGROOT: "/gentoo.cfg", ROOT: "/gentoo", SYSROOT: "/gentoo" },
        },
      ],
    };
    const { ctx, output, rootfs } = await rootfsContext(w);
    const result = await createEmergeRunner({ loadAverage: 3, killGraceMs: 300 })
      .run(ctx)
      .catch((err: unknown) => {
        throw new Error(`the stage failed; its log:\n${output()}`, { cause: err });
      });
    const text = output();

    // Config files where portage reads them, written inside the chroot.
    assert.equal(await readFile(join(rootfs, "etc/portage/package.mask"), "utf8"), "*/*\n");
    assert.equal(
      await readFile(join(rootfs, "etc/portage/make.profile/make.defaults"), "utf8"),
      'ARCH="x86"\nUSE="kernel_linux elibc_musl build"\n',
    );
    assert.equal(await readlink(join(rootfs, "cross/etc/portage/make.profile")), "/etc/portage/make.profile");
    assert.ok((await lstat(join(rootfs, "cross/etc/portage/env/sys-devel/gcc"))).isFile());
    assert.match(text, /^wrote \/cross\/etc\/portage\/make\.conf$/m);
    assert.match(text, /^wrote \/etc\/portage\/profile\/package\.provided$/m);
    assert.match(text, /^linked \/cross\/etc\/portage\/make\.profile -> \/etc\/portage\/make\.profile$/m);

    // env-update ran before the emerges, inside the chroot.
    assert.equal(
      await readFile(join(rootfs, "etc/env.d/50baselayout"), "utf8"),
      "PATH=/cross/usr/bin:/usr/bin:/usr/sbin:/bin:/sbin\n",
    );
    assert.equal(
      await readFile(join(rootfs, "etc/profile.env"), "utf8"),
      "export PATH=/cross/usr/bin:/usr/bin:/usr/sbin:/bin:/sbin\n",
    );
    assert.ok(text.indexOf("env-update stub: wrote /etc/profile.env") < text.indexOf(">>> emerge 1/4"));

    // The local step: ./portage/bin/emerge from /tmp, unmasked by package.unmask, MAKEOPTS from the invocation.
    const lzip = await record(rootfs, "lzip");
    assert.equal(lzip["config_root"], "/");
    assert.equal(lzip["use"], "build elibc_musl kernel_linux");
    assert.equal(lzip["makeopts"], "-j1");
    assert.match(
      text,
      /emerge-double: app-arch\/lzip-1\.0: masked by package\.mask \(\*\/\*\) but unmasked by package\.unmask/,
    );
    assert.match(text, /emerge-double: sys-apps\/sed: provided by profile\/package\.provided/);
    const binutilsConfig = await record(rootfs, "binutils-config");
    assert.equal(binutilsConfig["makeopts"], "-j2 -l3");
    assert.equal(binutilsConfig["emerge_default_opts"], "");
    assert.equal(binutilsConfig["jobs"], "1");
    assert.equal(binutilsConfig["load_average"], "3");

    // The cross steps: EPREFIX under /, and ROOT=/gentoo.
    const headers = await record(join(rootfs, "cross"), "linux-headers");
    assert.equal(headers["config_root"], "/cross");
    assert.equal(headers["profile"], "link:/etc/portage/make.profile");
    assert.equal(headers["use"], "build elibc_musl headers-only kernel_linux multilib prefix");
    assert.ok((await lstat(join(rootfs, "cross/var/db/pkg/sys-kernel/linux-headers-1.0/PF"))).isFile());
    const baselayout = await record(join(rootfs, "gentoo"), "baselayout");
    assert.equal(baselayout["root"], "/gentoo");
    assert.equal(baselayout["sysroot"], "/gentoo");
    assert.equal(baselayout["use"], "build");

    // Binary packages from the rootfs's PKGDIR: only / has FEATURES=buildpkg, not /cross or /gentoo.cfg.
    assert.deepEqual(Object.keys(result.stored ?? {}).sort(), [
      "binpkg:app-arch/lzip/lzip-1.0-1.gpkg.tar",
      "binpkg:sys-devel/binutils-config/binutils-config-1.0-1.gpkg.tar",
      "binpkgs.index",
    ]);
    assert.ok((await lstat(join(rootfs, "var/cache/binpkgs/Packages"))).isFile());
    assert.match(text, /^collected 2 binary package\(s\) from \/var\/cache\/binpkgs: /m);
    assert.deepEqual(await hostMountsUnder(ctx.workspace), []);
  });

  void test("a masked atom in the chroot fails naming the invocation; nothing is left mounted", async () => {
    const w = {
      root: "rootfs",
      configs: [{ package_mask: ">=sys-devel/gcc-14\n" }],
      emerge: [{ args: ["-1", "=sys-devel/gcc-14.2.1"] }],
    };
    const { ctx } = await rootfsContext(w);
    await assert.rejects(createEmergeRunner({ loadAverage: 3, killGraceMs: 300 }).run(ctx), (e: unknown) => {
      assert.ok(e instanceof StagefarmError);
      assert.equal(e.code, "stage_failed");
      assert.equal(
        e.message,
        'stage "cross": emerge invocation 1/1 (emerge --jobs=1 --load-average=3 -1 =sys-devel/gcc-14.2.1) exited with status 1',
      );
      assert.match(
        String(e.details["logTail"]),
        /sys-devel\/gcc-14\.2\.1::gentoo \(masked by: package\.mask\)/,
      );
      return true;
    });
    assert.deepEqual(await hostMountsUnder(ctx.workspace), []);
  });
});
