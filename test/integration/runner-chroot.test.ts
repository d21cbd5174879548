/**
 * The chroot runner end to end through the stage executor, on a real Debian chroot made with
 * debootstrap (once per machine): what a stage sees inside, what its packed rootfs output holds
 * (and does not), determinism, and failure, timeout, cancel and bad input leaving no workspace,
 * mount or process behind.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { StageExecutor } from "../../agent/index.js";
import { createChrootRunner } from "../../agent/runners/chroot/index.js";
import { createShellRunner } from "../../agent/runners/shell/index.js";
import { sha256 } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import type { StageJob } from "../../shared/job.js";
import { silentLogger } from "../../shared/log.js";
import { packTree, unpackBlob } from "../../shared/pack/index.js";
import type { ArtifactRef, InputSpec, OutputSpec, ResolvedStage } from "../../shared/pipeline/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { debootstrapRootfs } from "../helpers/debootstrap.js";
import { hostMountsUnder, marker, processesWith } from "../helpers/leak-probes.js";

const pos = { file: "pipeline.yaml", line: 1, col: 1 };

/** The excludes of the procedure's seed tarball step. */
const SEED_EXCLUDES = ["./var/cache/distfiles/*", "./var/db/repos/*", "./var/tmp"];

function chrootStage(script: string, over: Partial<ResolvedStage> = {}): ResolvedStage {
  return {
    pipeline: "test",
    name: "system",
    runner: "chroot",
    requires: [],
    inputs: [rootfsInput()],
    outputs: [output("rootfs", "rootfs", { exclude: SEED_EXCLUDES })],
    env: {},
    script,
    sources: [],
    with: {},
    timeoutMs: 120_000,
    retries: 0,
    clampMtime: false,
    platform: "linux/x86_64",
    paramsUsed: [],
    ...over,
  };
}

function rootfsInput(name = "base", path = "rootfs"): InputSpec {
  return { t: "stage", name, stage: "bootstrap", output: "rootfs", path, unpack: true, pos };
}

function output(name: string, path: string, extra: Partial<OutputSpec> = {}): OutputSpec {
  return { name, path, exclude: [], pos, ...extra };
}

void describe("chroot runner", { timeout: 900_000 }, () => {
  let dir: string;
  let workRoot: string;
  let store: FsArtifactStore;
  let executor: StageExecutor;
  let base: ArtifactRef;
  let runs = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-chroot-runner-"));
    workRoot = join(dir, "work");
    store = await FsArtifactStore.open(join(dir, "store"));
    base = await debootstrapRootfs(store);
    executor = new StageExecutor({
      store,
      workRoot,
      logger: silentLogger(),
      runners: [createChrootRunner({ killGraceMs: 200 }), createShellRunner({ killGraceMs: 200 })],
    });
  });
  after(async () => {
    assert.deepEqual(await hostMountsUnder(dir), []);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  function job(s: ResolvedStage, inputs: Record<string, ArtifactRef> = { base }): StageJob {
    return { runId: `run${++runs}`, stage: s, key: sha256(`key${runs}`), inputs, attempt: 1 };
  }

  async function run(j: StageJob, signal = new AbortController().signal, onLog?: (c: string) => void) {
    let log = "";
    const result = await executor.execute(j, {
      signal,
      jobs: 3,
      onLog: (c) => {
        log += c;
        onLog?.(c);
      },
    });
    return { result, log };
  }

  async function failure(p: Promise<unknown>): Promise<StagefarmError> {
    const e = await p.then(
      () => assert.fail("expected the stage to fail"),
      (err: unknown) => err,
    );
    assert.ok(e instanceof StagefarmError, `not a StagefarmError: ${String(e)}`);
    return e;
  }

  /** Nothing of a finished stage is left: no workspace, no mount. */
  async function assertClean(): Promise<void> {
    assert.deepEqual(await readdir(workRoot), [], "the workspace is removed");
    assert.deepEqual(await hostMountsUnder(workRoot), []);
  }

  test("the script sees proc, sys, dev, a writable dev/shm, resolv.conf, umask 022 and only its env", async () => {
    const { log } = await run(
      job(
        chrootStage(
          `
          test -r /proc/self/status && test -d /sys/kernel && test -c /dev/null && test -c /dev/pts/ptmx
          echo probe > /dev/shm/probe && test "$(cat /dev/shm/probe)" = probe
          test -s /etc/resolv.conf
          echo "UMASK $(umask)"
          env -0 | sort -z | tr '\\0' '\\n' | sed 's/^/ENV /'
        `,
          { env: { STAGE_VAR: "from the stage" }, with: { login: false }, outputs: [] },
        ),
      ),
    );
    assert.match(log, /^UMASK 0022$/m);
    const env = log
      .split("\n")
      .filter((l) => l.startsWith("ENV "))
      .map((l) => l.slice(4).split("=")[0] ?? "");
    assert.deepEqual(env.sort(), [
      "HOME",
      "LC_ALL",
      "MAKEOPTS",
      "PATH",
      "PWD",
      "SHLVL",
      "SOURCE_DATE_EPOCH",
      "STAGEFARM_JOBS",
      "STAGEFARM_STAGE",
      "STAGE_VAR",
      "TERM",
      "_",
    ]);
    assert.match(log, /^ENV HOME=\/root$/m);
    assert.match(log, /^ENV MAKEOPTS=-j3$/m);
    assert.match(log, /^ENV TERM=dumb$/m);
    assert.match(log, /^ENV STAGE_VAR=from the stage$/m);
    await assertClean();
  });

  test("by default the script runs in a login shell: the root's profile is sourced", async () => {
    // Debian's /etc/profile sets root's PATH itself, over the stage's.
    const { log } = await run(
      job(
        chrootStage('echo "LOGIN $(shopt -q login_shell && echo yes)"; echo "PATH=$PATH"', {
          env: { PATH: "/bin" },
          outputs: [],
        }),
      ),
    );
    assert.match(log, /^LOGIN yes$/m);
    assert.match(log, /^PATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
  });

  test("the output rootfs has the script's changes, no pseudo file system contents, no excluded paths", async () => {
    const script = `
      echo made > /etc/made-by-stage
      mkdir -p /var/cache/distfiles /var/db/repos/gentoo /var/tmp/portage
      echo big > /var/cache/distfiles/portage.tar.bz2
      echo tree > /var/db/repos/gentoo/metadata
      echo junk > /var/tmp/portage/junk
      echo shm > /dev/shm/left
      mknod /root/stray-node c 1 3
    `;
    const { result, log } = await run(job(chrootStage(script)));
    const out = result.outputs["rootfs"];
    assert.ok(out);
    assert.equal(out.kind, "tree");
    assert.match(log, /removed device nodes from rootfs .*\.\/root\/stray-node/);
    await assertClean();

    const check = join(dir, "check-output");
    // The unpacker refuses device nodes: this alone shows the output has none.
    await unpackBlob(store, out.digest, check, { allowDevices: false });
    assert.equal(await readFile(join(check, "etc/made-by-stage"), "utf8"), "made\n");
    assert.deepEqual(await readdir(join(check, "var/cache/distfiles")), []);
    assert.deepEqual(await readdir(join(check, "var/db/repos")), []);
    await assert.rejects(lstat(join(check, "var/tmp")), { code: "ENOENT" });
    for (const pseudo of ["proc", "sys"]) assert.deepEqual(await readdir(join(check, pseudo)), [], pseudo);
    await assert.rejects(lstat(join(check, "root/stray-node")), { code: "ENOENT" });
    await assert.rejects(lstat(join(check, "dev/shm/left")), { code: "ENOENT" });
    // The run's resolv.conf was mounted for the run only: the output has the input's.
    const input = join(dir, "check-input");
    await unpackBlob(store, base.digest, input, { allowDevices: false });
    assert.deepEqual(
      await readFile(join(check, "etc/resolv.conf")),
      await readFile(join(input, "etc/resolv.conf")),
    );
    assert.deepEqual((await readdir(join(check, "dev"))).sort(), (await readdir(join(input, "dev"))).sort());
    // Packing the same tree twice gives the same bytes.
    const a = await packTree(check, store);
    const b = await packTree(check, store);
    assert.equal(a.digest, b.digest);
    await rm(check, { recursive: true });
    await rm(input, { recursive: true });
  });

  test("the same stage run twice gives the same rootfs digest (mtimes clamped)", async () => {
    const s = chrootStage("echo made > /etc/made-by-stage; mkdir -p /opt/x; touch /opt/x/y", {
      clampMtime: true,
    });
    const a = await run(job(s));
    const b = await run(job(s));
    assert.deepEqual(a.result.outputs, b.result.outputs);
  });

  test("a failing script fails the stage with its exit status and log tail; nothing is left", async () => {
    const e = await failure(run(job(chrootStage("echo inside the chroot\nexit 7"))));
    assert.equal(e.code, "stage_failed");
    assert.equal(e.message, 'stage "system" failed: script exited with status 7');
    assert.equal(e.details["exitCode"], 7);
    assert.match(String(e.details["logTail"]), /inside the chroot/);
    const log = await text(await store.getLog(String(e.details["logPath"])));
    assert.match(log, /^inside the chroot$/m);
    await assertClean();
  });

  test("a timeout fails the stage and kills every process in the chroot", async () => {
    const m = marker();
    const e = await failure(
      run(job(chrootStage(`sleep ${m} & sleep ${m}`, { timeoutMs: 1000, outputs: [] }))),
    );
    assert.equal(e.code, "timeout");
    assert.deepEqual(await processesWith(m), []);
    await assertClean();
  });

  test("cancelling kills every process in the chroot and removes the workspace", async () => {
    const m = marker();
    const ac = new AbortController();
    const e = await failure(
      run(job(chrootStage(`echo started; sleep ${m}`, { outputs: [] })), ac.signal, (c) => {
        if (c.includes("started\n")) ac.abort();
      }),
    );
    assert.equal(e.code, "cancelled");
    assert.equal(e.message, 'stage "system" was cancelled');
    assert.deepEqual(await processesWith(m), []);
    await assertClean();
  });

  test("binds: a read-only bind refuses writes; read-write ones write into the workspace", async () => {
    const src = join(dir, "distfiles-src");
    const emptyDir = join(dir, "empty");
    await mkdir(src, { recursive: true });
    await mkdir(emptyDir, { recursive: true });
    await writeFile(join(src, "portage-3.0.66.1.tar.bz2"), "tarball\n");
    const tree = async (d: string): Promise<ArtifactRef> => ({ ...(await packTree(d, store)), kind: "tree" });
    const treeInput = (name: string): InputSpec => ({
      t: "stage",
      name,
      stage: "fetch",
      output: name,
      path: name,
      unpack: true,
      pos,
    });
    const s = chrootStage(
      `
      test "$(cat /var/cache/distfiles/portage-3.0.66.1.tar.bz2)" = tarball
      if touch /var/cache/distfiles/new 2>/dev/null; then echo "RO writable"; else echo "RO refused"; fi
      echo packages > /var/cache/binpkgs/Packages
    `,
      {
        inputs: [rootfsInput(), treeInput("distfiles"), treeInput("pkgdir")],
        with: {
          binds: [
            { from: "distfiles", to: "/var/cache/distfiles" },
            { from: "pkgdir", to: "/var/cache/binpkgs", readonly: false },
          ],
        },
        outputs: [output("packages", "pkgdir/Packages", { kind: "file" })],
      },
    );
    const { result, log } = await run(
      job(s, { base, distfiles: await tree(src), pkgdir: await tree(emptyDir) }),
    );
    assert.match(log, /^RO refused$/m);
    const packages = result.outputs["packages"];
    assert.ok(packages);
    assert.equal(await text(await store.getBlob(packages.digest)), "packages\n");
    await assertClean();
  });

  test("a rootfs artifact with an escaping symlink is refused before anything runs", async () => {
    const evil = join(dir, "evil-root");
    await mkdir(join(evil, "etc"), { recursive: true });
    await symlink("../../../../../etc/shadow", join(evil, "etc/escape"));
    const blob = await packTree(evil, store);
    const e = await failure(
      run(job(chrootStage("echo ran"), { base: { digest: blob.digest, size: blob.size, kind: "tree" } })),
    );
    assert.equal(e.code, "unsafe_archive");
    assert.match(e.message, /etc\/escape/);
    assert.match(e.message, /leads outside the extraction root/);
    await assertClean();
  });

  test("bad configuration and a missing root are clear errors naming the stage", async () => {
    const badWith = { dev: "full", binds: [{ to: "x" }] };
    const bad = await failure(run(job(chrootStage("true", { with: badWith, inputs: [] }), {})));
    assert.equal(bad.code, "invalid_pipeline");
    assert.match(bad.message, /^stage "system" \(runner chroot\): /);
    assert.match(bad.message, /with\.dev: /);
    assert.match(bad.message, /with\.binds\[0\]\.from: /);
    assert.match(bad.message, /with\.binds\[0\]\.to: must be an absolute path inside the root/);

    const noRoot = await failure(run(job(chrootStage("true", { inputs: [], outputs: [] }), {})));
    assert.equal(noRoot.code, "invalid_argument");
    assert.match(
      noRoot.message,
      /^stage "system" \(runner chroot\) with\.root: the root file system "rootfs" is not in the workspace/,
    );

    const noShell = await failure(
      run(job(chrootStage("true", { with: { shell: "/bin/zsh" }, outputs: [] }))),
    );
    assert.equal(noShell.code, "invalid_argument");
    assert.match(
      noShell.message,
      /^stage "system" \(runner chroot\): the chroot root .* has no shell \/bin\/zsh/,
    );
    await assertClean();
  });
});
