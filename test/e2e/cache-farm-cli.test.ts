/**
 * `stagefarm cache`, `plan` and `stats` against a loopback farm of real processes (nats-server,
 * S3 server, a coordinator with tokens and roles, an agent): with a coordinator named they go
 * through it and see the farm's store, never the client's local one (which holds another entry
 * here), and say so; a viewer reads, an admin removes and collects, a viewer's `gc` is refused
 * as PERMISSION_DENIED; `gc` removes a planted unreferenced blob and keeps what entries and the
 * recent run name; `--s3` alone reads the store directly and refuses changes.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { sha256 } from "../../shared/digest.js";
import { FsArtifactStore, openS3Store, type Manifest } from "../../shared/store/index.js";
import { parseS3Url } from "../../shared/config/s3-url.js";
import { authFileText, makeTokens, writeAuthFile } from "../helpers/auth-fixtures.js";
import { repoRoot } from "../helpers/cli.js";
import { withFarm, type RunSummary } from "../helpers/farm-processes.js";

const DEMO = join(repoRoot, "pipelines/demo/pipeline.yaml");

/** An entry only the client's local store has. */
async function plantLocalEntry(storeDir: string): Promise<Manifest> {
  const store = await FsArtifactStore.open(storeDir);
  try {
    const b = await store.putBlob(Readable.from([Buffer.from("local only\n")]));
    const m: Manifest = {
      v: 1,
      key: sha256("local only"),
      pipeline: "local-only",
      stage: "s",
      runner: "shell",
      outputs: { o: { digest: b.digest, size: b.size, kind: "file" } },
      createdAt: new Date().toISOString(),
      durationMs: 5,
      producer: "local",
    };
    await store.putManifest(m);
    return m;
  } finally {
    await store.close();
  }
}

void test(
  "cache, plan and stats see the farm through its coordinator, by role",
  { timeout: 300_000 },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-cache-farm-"));
    try {
      const tokens = makeTokens();
      const auth = await writeAuthFile(join(dir, "auth"), authFileText(tokens));
      await withFarm({ agents: [{ id: "a1" }], coordinatorEnv: { STAGEFARM_AUTH: auth } }, async (farm) => {
        const as = (role: "viewer" | "submitter" | "admin") => ["--token", tokens[role]];
        const local = ["--coordinator", "", "--s3", ""];
        const viaFarm = (cmd: string) =>
          new RegExp(`^stagefarm ${cmd}: farm coordinator 127\\.0\\.0\\.1:\\d+$`, "m");
        const localEntry = await plantLocalEntry(join(farm.dir, "client-store"));

        const run = await farm.cliJson<RunSummary>(
          ["submit", DEMO, "--watch", "--json", ...as("submitter")],
          {
            timeoutMs: 180_000,
          },
        );
        assert.equal(run.status, "succeeded");
        const keys = Object.values(run.results).flatMap((r) => (r.key === undefined ? [] : [r.key]));
        const stages = Object.keys(run.results).length;
        assert.equal(keys.length, stages);

        // plan: every stage cached in the farm; the local store has none of them.
        const plan = await farm.cli(["plan", DEMO, ...as("viewer")]);
        assert.equal(plan.code, 0, plan.stderr);
        assert.match(plan.stderr, viaFarm("plan"));
        assert.match(
          plan.stdout,
          new RegExp(`^${stages} of ${stages} stages cached in farm coordinator `, "m"),
        );
        const localPlan = await farm.cli(["plan", DEMO, ...local]);
        assert.equal(localPlan.code, 0, localPlan.stderr);
        assert.match(localPlan.stderr, /^stagefarm plan: local store /m);
        assert.match(localPlan.stdout, new RegExp(`^0 of ${stages} stages cached in local store `, "m"));

        // ls: the farm's entries, not the local store's.
        const ls = await farm.cli(["cache", "ls", "--json", ...as("viewer")]);
        assert.equal(ls.code, 0, ls.stderr);
        assert.match(ls.stderr, viaFarm("cache"));
        const listed = ls.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as Manifest);
        assert.deepEqual(listed.map((m) => m.key).sort(), [...keys].sort());
        const localLs = await farm.cli(["cache", "ls", "--json", ...local]);
        assert.deepEqual(
          localLs.stdout
            .trim()
            .split("\n")
            .map((l) => (JSON.parse(l) as Manifest).key),
          [localEntry.key],
        );

        // show: one entry by a key prefix, with its outputs.
        const [stage, result] =
          Object.entries(run.results).find(([, r]) => Object.keys(r.outputs).length > 0) ?? [];
        assert.ok(stage !== undefined && result?.key !== undefined);
        const show = await farm.cli(["cache", "show", result.key.slice(0, 10), ...as("viewer")]);
        assert.equal(show.code, 0, show.stderr);
        assert.match(show.stdout, new RegExp(`^key: +${result.key}$`, "m"));
        assert.match(show.stdout, new RegExp(`^stage: +demo/${stage} \\(`, "m"));
        for (const o of Object.values(result.outputs)) assert.ok(show.stdout.includes(`sha256:${o.digest}`));

        // stats: the durations the farm recorded.
        const stats = await farm.cli(["stats", "demo", ...as("viewer")]);
        assert.equal(stats.code, 0, stats.stderr);
        assert.match(stats.stderr, viaFarm("stats"));
        assert.match(stats.stdout, /^Pipeline demo — 1 recorded run$/m);
        assert.match(stats.stdout, new RegExp(`^ {2}${stage} +1 +\\d\\S* +\\d\\S* +0 `, "m"));
        const localStats = await farm.cli(["stats", "demo", ...local]);
        assert.match(localStats.stdout, /No recorded history for pipeline demo in /);

        // A viewer reads but does not collect or remove.
        const denied = await farm.cli(["cache", "gc", ...as("viewer")]);
        assert.equal(denied.code, 2, denied.stderr);
        assert.match(denied.stderr, /token val has role viewer; CollectCache needs admin/);
        const rmDenied = await farm.cli(["cache", "rm", result.key, ...as("viewer")]);
        assert.equal(rmDenied.code, 2, rmDenied.stderr);
        assert.match(rmDenied.stderr, /RemoveCacheEntries needs admin/);

        // --s3 alone: the farm's store read directly; changes refused.
        const direct = await farm.cli(["cache", "ls", "--coordinator", ""]);
        assert.equal(direct.code, 0, direct.stderr);
        assert.match(direct.stderr, /^stagefarm cache: farm store .* \(read directly\)$/m);
        assert.match(direct.stdout, new RegExp(`^${stages} entries, `, "m"));
        const directGc = await farm.cli(["cache", "gc", "--coordinator", ""]);
        assert.equal(directGc.code, 2);
        assert.match(directGc.stderr, /pass --coordinator HOST:PORT/);

        const localRuns = await farm.cli(["cache", "gc", "--keep-runs-for", "1d", ...local]);
        assert.equal(localRuns.code, 2);
        assert.match(localRuns.stderr, /--keep-runs-for applies to a farm's runs/);

        // gc: a planted unreferenced blob goes; the entries' blobs stay. The entry removed first
        // keeps its outputs while the recent run names them, until the run's window is over.
        const s3 = await openS3Store(parseS3Url(farm.s3.url));
        try {
          const planted = await s3.putBlob(Readable.from([Buffer.from("planted, unreferenced\n")]));
          const sharedByOthers = new Set(
            Object.entries(run.results)
              .filter(([s]) => s !== stage)
              .flatMap(([, r]) => Object.values(r.outputs).map((o) => o.digest)),
          );
          const onlyRun = Object.values(result.outputs)
            .map((o) => o.digest)
            .filter((d) => !sharedByOthers.has(d));
          assert.ok(onlyRun.length > 0, `${stage} has an output no other stage has`);
          const removed = await farm.cli(["cache", "rm", result.key.slice(0, 12), ...as("admin")]);
          assert.equal(removed.code, 0, removed.stderr);
          assert.match(
            removed.stdout,
            new RegExp(`^removed cache entry ${result.key.slice(0, 12)} \\(demo/${stage}\\)$`, "m"),
          );

          const gc = await farm.cliJson<{ blobsRemoved: Array<{ digest: string }>; rootsKept: number }>([
            "cache",
            "gc",
            "--grace",
            "1ms",
            "--json",
            ...as("admin"),
          ]);
          assert.deepEqual(
            gc.blobsRemoved.map((b) => b.digest),
            [planted.digest],
          );
          assert.ok(gc.rootsKept >= onlyRun.length, `rootsKept ${gc.rootsKept}`);
          assert.equal(await s3.statBlob(planted.digest), undefined);
          for (const r of Object.values(run.results))
            for (const o of Object.values(r.outputs))
              assert.ok(await s3.statBlob(o.digest), `${o.digest} kept`);

          const expired = await farm.cli([
            "cache",
            "gc",
            "--grace",
            "1ms",
            "--keep-runs-for",
            "1ms",
            ...as("admin"),
          ]);
          assert.equal(expired.code, 0, expired.stderr);
          for (const d of onlyRun) {
            assert.match(expired.stdout, new RegExp(`^removed blob ${d.slice(0, 12)} `, "m"));
            assert.equal(await s3.statBlob(d), undefined);
          }
          for (const d of sharedByOthers) assert.ok(await s3.statBlob(d), `${d} of a kept entry stays`);
        } finally {
          await s3.close();
        }
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
