/**
 * The shipped catalyst-release pipeline (pipelines/catalyst-release/pipeline.yaml, unchanged)
 * run end to end by a farm of three `catalyst` agents in one process, with the catalyst double
 * (test/doubles/catalyst-double.ts) in place of Catalyst and the tar2sqfs double in place of
 * squashfs-tools-ng. It runs twice: with the procedure's releng (87eea8b6, the default) on
 * Catalyst 4.1.1, and with a newer releng (2542ea88, whose install ISO needs Catalyst git
 * master's cdtar) on Catalyst master. The pinned downloads are put in the store first under the
 * digests passed as params (a fetch finds its blob there and downloads nothing): the releng
 * snapshot, and a real `git archive` of a repository commit as the tree snapshot, whose commit
 * is the treeish param. The seed is imported as `stagefarm import` would. It checks what the
 * pipeline promises: all ten stages, the branches spread over agents, each stage seeded from the
 * one before it, the procedure's releng edits (as intents) in what Catalyst read, TIMESTAMP the
 * snapshot commit's date, the ISO at the end, and a rerun that executes nothing. A missing seed
 * is refused at submit.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { text } from "node:stream/consumers";
import { promisify } from "node:util";
import { StageExecutor } from "../../agent/index.js";
import { createCatalystRunner } from "../../agent/runners/catalyst/index.js";
import { createFetchRunner } from "../../agent/runners/fetch/index.js";
import { createShellRunner } from "../../agent/runners/shell/index.js";
import type { RunDoc } from "../../coordinator/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { silentLogger } from "../../shared/log.js";
import { unpackBlob } from "../../shared/pack/index.js";
import { MemoryFarm } from "../helpers/memory-farm.js";
import { relengFixture, RELENG_COMMITS, type RelengFixture } from "../helpers/catalyst-releng.js";
import { poll } from "../helpers/poll.js";

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "../../..");
const PIPELINE = join(ROOT, "pipelines/catalyst-release/pipeline.yaml");
const DOUBLE = join(HERE, "../doubles/catalyst-double.js");
const TAR2SQFS = join(HERE, "../doubles/tar2sqfs-double.js");
/** The snapshot commit's committer date, and the TIMESTAMP catalyst-auto makes of it. */
const COMMIT_DATE = "2025-06-12T10:15:00Z";
const TIMESTAMP = "20250612T101500Z";
const STAGES = [
  "sources",
  "releng",
  "stage1-systemd",
  "stage3-systemd",
  "stage3d-systemd",
  "stage1-openrc",
  "stage3-openrc",
  "stage3d-openrc",
  "installcd-stage1",
  "installcd-stage2-minimal",
];

async function finished(farm: MemoryFarm, id: string): Promise<RunDoc> {
  return poll(
    async () => {
      const d = await farm.coordinator.getRun(id);
      return d.status !== "running" ? d : undefined;
    },
    { timeoutMs: 240_000, what: `run ${id} to finish`, intervalMs: 100 },
  );
}

function releaseSuite(which: RelengFixture, catalystVersion: string): void {
  void describe(`the shipped catalyst-release pipeline, releng ${which}, Catalyst ${catalystVersion} (double)`, () => {
    let dir: string;
    let farm: MemoryFarm;
    let yaml: string;
    const params: Record<string, string> = {};

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "sf-catalyst-release-"));
      farm = await MemoryFarm.create({ leaseMs: 120_000, ackWaitMs: 120_000 });
      yaml = await readFile(PIPELINE, "utf8");
      // gitweb's snapshot of the releng commit: one top directory releng-<commit>/.
      const commit = RELENG_COMMITS[which];
      if (which !== "procedure") params["releng_commit"] = commit;
      const top = join(dir, `releng-${commit}`);
      await mkdir(top);
      await run("cp", ["-a", join(relengFixture(which), "releases"), top]);
      await run("tar", ["-C", dir, "-czf", join(dir, "releng.tar.gz"), `releng-${commit}`]);
      params["releng_sha256"] = (await farm.store.putBlobFile(join(dir, "releng.tar.gz"))).digest;
      // gitweb's snapshot of a repository commit: `git archive`, top directory gentoo-<commit>/.
      const repo = join(dir, "gentoo-repo");
      await mkdir(join(repo, "profiles"), { recursive: true });
      await writeFile(join(repo, "profiles/repo_name"), "gentoo\n");
      const git = (...args: string[]) =>
        run("git", ["-C", repo, ...args], {
          env: { ...process.env, GIT_COMMITTER_DATE: COMMIT_DATE, GIT_AUTHOR_DATE: COMMIT_DATE },
        });
      await git("init", "-q");
      await git("add", ".");
      await git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "snapshot");
      const treeish = (await git("rev-parse", "HEAD")).stdout.trim();
      params["treeish"] = treeish;
      await git(
        "archive",
        "--format=tar.gz",
        `--prefix=gentoo-${treeish}/`,
        "-o",
        join(dir, "gentoo.tar.gz"),
        "HEAD",
      );
      params["snapshot_sha256"] = (await farm.store.putBlobFile(join(dir, "gentoo.tar.gz"))).digest;
      // The bootstrap seed: a tiny root with a marker every later stage must still carry.
      const seedRoot = join(dir, "seed-root");
      await mkdir(join(seedRoot, "etc"), { recursive: true });
      await writeFile(join(seedRoot, "etc/bootstrap-seed"), "stage3-bootstrap\n");
      await run("tar", ["-C", seedRoot, "-cJf", join(dir, "stage3-bootstrap.tar.xz"), "."]);
      params["seed"] = (await farm.store.putBlobFile(join(dir, "stage3-bootstrap.tar.xz"))).digest;
      for (const id of ["cat-1", "cat-2", "cat-3"])
        farm.addAgent(
          id,
          ["x86_64", "catalyst"],
          1,
          new StageExecutor({
            store: farm.store,
            workRoot: join(dir, "work", id),
            logger: silentLogger(),
            runners: [
              createFetchRunner(),
              createShellRunner(),
              createCatalystRunner({
                catalystCommand: [process.execPath, DOUBLE, "--double-version", catalystVersion],
                tar2sqfsCommand: [process.execPath, TAR2SQFS],
              }),
            ],
          }),
        );
    });

    after(async () => {
      await farm[Symbol.asyncDispose]();
      await rm(dir, { recursive: true, force: true });
    });

    void test("a missing seed is refused at submit, naming the stages and how to import it", async () => {
      const bogus = "f".repeat(64);
      await assert.rejects(
        farm.coordinator.submit({ yaml, path: PIPELINE, params: { ...params, seed: bogus } }),
        (err: unknown) =>
          err instanceof StagefarmError &&
          err.code === "not_found" &&
          err.message.includes(`stage "stage1-systemd" input "seed": sha256 ${bogus}`) &&
          err.message.includes(`stage "installcd-stage1" input "seed"`) &&
          err.message.includes("stagefarm import FILE"),
      );
    });

    void test("builds every branch to the ISO, each stage seeded by the one before it", async () => {
      const submitted = await farm.coordinator.submit({ yaml, path: PIPELINE, params });
      const doc = await finished(farm, submitted.id);
      const failed = Object.entries(doc.stages).filter(([, s]) => s.state !== "done");
      const logs = await Promise.all(
        failed.map(async ([, s]) =>
          s.logPath === undefined ? "" : await text(await farm.store.getLog(s.logPath)),
        ),
      );
      assert.deepEqual(failed, [], `every stage executed: ${JSON.stringify(failed)}\n${logs.join("\n")}`);
      assert.equal(doc.status, "succeeded");
      assert.deepEqual(Object.keys(doc.stages).sort(), [...STAGES].sort());

      // The branches ran on more than one agent.
      const producers = new Set<string>();
      for (const name of STAGES) {
        const key = doc.stages[name]?.key;
        assert.ok(key, `${name} has a key`);
        const m = await farm.store.getManifest(key);
        assert.ok(m, `${name} has a cache entry`);
        producers.add(m.producer);
      }
      assert.ok(producers.size >= 2, `stages spread over agents: ${[...producers].join(", ")}`);

      // stage3d-systemd's image holds the seed's marker and the records of stage1 and itself.
      const image = doc.stages["stage3d-systemd"]?.outputs?.["image"];
      assert.ok(image);
      const root = join(dir, "stage3d");
      await mkdir(root);
      await farm.store.getBlobToFile(image.digest, join(dir, "stage3d.tar.xz"));
      await run("tar", ["-C", root, "-xJf", join(dir, "stage3d.tar.xz")]);
      assert.equal(await readFile(join(root, "etc/bootstrap-seed"), "utf8"), "stage3-bootstrap\n");
      const records = (await readdir(join(root, "etc/catalyst-double"))).sort();
      assert.deepEqual(records, ["stage1", "stage3"]);
      // Catalyst read the confdir with the procedure's edits.
      const mask = await readFile(join(root, "etc/portage/package.mask/releng/rust"), "utf8");
      assert.match(mask, /^dev-lang\/rust-bin$/m);
      assert.doesNotMatch(mask, /^dev-lang\/rust$/m);
      assert.equal(
        await readFile(join(root, "etc/portage/profile/packages.build"), "utf8"),
        "dev-lang/rust\n",
      );
      const circular = await readFile(join(root, "etc/portage/package.use/releng/circular"), "utf8");
      assert.match(circular, /^net-misc\/curl http2 ssl openssl curl_ssl_openssl$/m);
      assert.equal(circular.match(/^dev-python\/pillow -truetype$/gm)?.length, 1, circular);
      // Every build is stamped with the snapshot commit's date, and read that snapshot.
      assert.match(
        await readFile(join(root, "etc/catalyst-double/stage3"), "utf8"),
        new RegExp(
          `^version_stamp: desktop-systemd-${TIMESTAMP}\nprofile: .*\nsnapshot_treeish: ${params["treeish"] ?? ""}$`,
          "m",
        ),
      );

      // livecd/unmerge names the Rust the CD was built with, not rust-bin.
      const isoStage = doc.stages["installcd-stage2-minimal"];
      assert.ok(isoStage?.logPath);
      const isoLog = await text(await farm.store.getLog(isoStage.logPath));
      const unmerge = /^livecd\/unmerge:\n((?:\t.*\n)+)/m.exec(isoLog)?.[1] ?? "";
      assert.match(unmerge, /^\tdev-lang\/rust$/m, isoLog);
      assert.doesNotMatch(unmerge, /rust-bin/);
      if (which === "newer")
        assert.match(
          isoLog,
          /shipped only by Catalyst after 4\.1\.1/,
          "the log says which Catalyst the spec needs",
        );

      // The last stage's build holds the install ISO named by the spec.
      const build = doc.stages["installcd-stage2-minimal"]?.outputs?.["build"];
      const iso = doc.stages["installcd-stage2-minimal"]?.outputs?.["image"];
      assert.ok(build && iso);
      assert.equal(iso.kind, "file");
      const buildDir = join(dir, "iso-build");
      await unpackBlob(farm.store, build.digest, buildDir, { allowDevices: false });
      const files = await readdir(buildDir);
      assert.ok(files.includes(`install-amd64-minimal-${TIMESTAMP}.iso`), files.join(", "));

      // A rerun executes nothing: every stage comes from the cache.
      const again = await finished(
        farm,
        (await farm.coordinator.submit({ yaml, path: PIPELINE, params })).id,
      );
      assert.equal(again.status, "succeeded");
      assert.deepEqual(
        Object.values(again.stages).map((s) => s.state),
        STAGES.map(() => "cached"),
      );
    });
  });
}

releaseSuite("procedure", "4.1.1");
releaseSuite("newer", "master");
