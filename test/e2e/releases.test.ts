/**
 * Releases (`stagefarm release`, shared/release, the `/releases/` route) on a loopback farm
 * (nats-server, S3 server, coordinator, agent as processes): a pipeline's `.tar.xz` output is
 * released and promoted; `latest-*.txt`, the file, its DIGESTS, CONTENTS.gz and GPG signature
 * are fetched anonymously over HTTP and checked with the real `b2sum`, `sha512sum`, `gunzip` and
 * `gpg --verify` (a throwaway key in a temp GNUPGHOME); a second pipeline seeded with
 * `release: latest-NAME` resolves to the promoted digest and records it in its run; two
 * promotions racing on one pointer: exactly one wins, the other fails with `conflict`; the
 * promotion log lists both releases with their seeds; hostile paths are 404; a viewer cannot
 * release. On one machine: `release --pipeline` writes the local store and `stagefarm up` serves
 * it. A filesystem store: two writers with separate in-process queues are serialised by the
 * store's lock, and releaseRootDigests names what the releases keep.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { StagefarmError } from "../../shared/errors.js";
import {
  PointerLocks,
  publishRelease,
  releaseRootDigests,
  type Promotion,
} from "../../shared/release/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { authFileText, makeTokens, writeAuthFile } from "../helpers/auth-fixtures.js";
import { CliSandbox } from "../helpers/cli.js";
import { withFarm, type RunSummary } from "../helpers/farm-processes.js";

const exec = promisify(execFile);
const NAME = "stage3-test";
const STAMP = "20260101T000000Z";

const seedPipeline = `pipeline: release-seed
stages:
  stage3:
    runner: shell
    script: |
      mkdir -p root/etc out
      echo "seed of the release test" > root/etc/hello
      tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C root -cJf out/stage3.tar.xz .
    outputs:
      stage3: { path: out/stage3.tar.xz, kind: file }
`;

const nextPipeline = `pipeline: release-next
stages:
  stage3:
    runner: shell
    inputs:
      seed: { release: latest-${NAME}, path: seed.tar.xz }
    script: |
      tar -xJf seed.tar.xz ./etc/hello -O | grep -q "seed of the release test"
      mkdir -p root/etc out
      echo "built from the seed" > root/etc/hello
      tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C root -cJf out/stage3.tar.xz .
    outputs:
      stage3: { path: out/stage3.tar.xz, kind: file }
`;

interface PromotionJson {
  name: string;
  generation: number;
  digest: string;
  stamp: string;
  run: string;
  files: Array<{ file: string; digest: string; size: number }>;
  seeds: Array<{ release: string; digest: string; run?: string }>;
}

async function bytes(url: string): Promise<Buffer> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return Buffer.from(await res.arrayBuffer());
}

/** The `<hex>  <file>` lines of one algorithm's sections of a DIGESTS file. */
function section(digests: string, algo: string): string {
  const lines = digests.split("\n");
  return lines.flatMap((l, i) => (l === `# ${algo} HASH` ? [lines[i + 1] ?? ""] : [])).join("\n") + "\n";
}

async function makeKey(home: string): Promise<string> {
  const env = { ...process.env, GNUPGHOME: home };
  await exec(
    "gpg",
    [
      "--batch",
      "--passphrase",
      "",
      "--quick-gen-key",
      "stagefarm test <release@test.invalid>",
      "ed25519",
      "sign",
      "never",
    ],
    { env },
  );
  const { stdout } = await exec("gpg", ["--batch", "--with-colons", "--list-secret-keys"], { env });
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(stdout)?.[1];
  assert.ok(fpr !== undefined, stdout);
  return fpr;
}

test(
  "releases on a loopback farm: tree, DIGESTS, signature, seeds, compare-and-set, log",
  { timeout: 300_000 },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-release-"));
    const gnupg = join(dir, "gnupg");
    await mkdir(gnupg, { mode: 0o700 });
    const gpgEnv = { ...process.env, GNUPGHOME: gnupg };
    try {
      const fpr = await makeKey(gnupg);
      const tokens = makeTokens();
      const auth = await writeAuthFile(join(dir, "auth"), authFileText(tokens));
      await writeFile(join(dir, "seed.yaml"), seedPipeline);
      await writeFile(join(dir, "next.yaml"), nextPipeline);
      await withFarm(
        { agents: [{ id: "a1" }], coordinatorEnv: { STAGEFARM_AUTH: auth, GNUPGHOME: gnupg } },
        async (farm) => {
          const admin = ["--token", tokens.admin];
          const seed = await farm.cliJson<RunSummary>(
            ["submit", join(dir, "seed.yaml"), "--watch", "--json", ...admin],
            {
              timeoutMs: 120_000,
            },
          );
          assert.equal(seed.status, "succeeded");

          const viewer = await farm.cli(["release", seed.run, "--name", NAME, "--token", tokens.viewer]);
          assert.notEqual(viewer.code, 0, "a viewer cannot release");
          assert.match(viewer.stderr, /admin/);

          const first = await farm.cliJson<PromotionJson>(
            [
              "release",
              seed.run,
              "stage3:stage3",
              "--name",
              `latest-${NAME}`,
              "--stamp",
              STAMP,
              "--sign-key",
              fpr,
              "--json",
              ...admin,
            ],
            { timeoutMs: 120_000 },
          );
          const file = `${NAME}-${STAMP}.tar.xz`;
          assert.equal(first.name, NAME);
          assert.equal(first.generation, 1);
          assert.deepEqual(
            first.files.map((f) => f.file),
            [file],
          );

          // Anonymous HTTP, as wget on a host would fetch it.
          const base = `${farm.httpUrl}/releases/amd64/autobuilds`;
          const latest = (await bytes(`${base}/latest-${NAME}.txt`)).toString("utf8");
          const size = first.files[0]?.size ?? -1;
          assert.match(
            latest,
            /^# Latest as of \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000\n# ts=\d+\n/,
          );
          assert.equal(latest.split("\n")[2], `${STAMP}/${file} ${size}`);
          const got = join(dir, "got");
          await mkdir(got);
          for (const f of [
            file,
            `${file}.DIGESTS`,
            `${file}.CONTENTS.gz`,
            `${file}.asc`,
            `${file}.DIGESTS.asc`,
          ])
            await writeFile(join(got, f), await bytes(`${base}/${STAMP}/${f}`));
          const tarball = await readFile(join(got, file));
          assert.equal(createHash("sha256").update(tarball).digest("hex"), first.digest);
          const digests = await readFile(join(got, `${file}.DIGESTS`), "utf8");
          assert.deepEqual(
            digests.split("\n").filter((l) => l.startsWith("#")),
            ["# BLAKE2B HASH", "# SHA512 HASH", "# BLAKE2B HASH", "# SHA512 HASH"],
          );
          for (const [tool, algo] of [
            ["b2sum", "BLAKE2B"],
            ["sha512sum", "SHA512"],
          ] as const) {
            await writeFile(join(got, `${algo}.check`), section(digests, algo));
            const { stdout } = await exec(tool, ["-c", `${algo}.check`], { cwd: got });
            assert.equal(stdout, `${file}: OK\n${file}.CONTENTS.gz: OK\n`, `${tool} -c`);
          }
          const contents = gunzipSync(await readFile(join(got, `${file}.CONTENTS.gz`))).toString("utf8");
          assert.match(contents, /^-rw-r--r--\S? +0\/0 +\d+ 1970-01-01 00:00 \.\/etc\/hello$/m);
          for (const signed of [file, `${file}.DIGESTS`])
            await exec("gpg", ["--batch", "--verify", join(got, `${signed}.asc`), join(got, signed)], {
              env: gpgEnv,
            });
          const range = await fetch(`${base}/${STAMP}/${file}`, { headers: { range: "bytes=1-" } });
          assert.equal(range.status, 206);
          assert.equal(range.headers.get("etag"), `"${first.digest}"`);
          assert.deepEqual(Buffer.from(await range.arrayBuffer()), tarball.subarray(1));

          for (const p of [
            `/releases/.stagefarm/pointers/${NAME}.json`,
            `/releases/amd64/autobuilds/../../.stagefarm/pointers/${NAME}.json`,
            `/releases/amd64/autobuilds/%2e%2e/%2e%2e/.stagefarm/pointers/${NAME}.json`,
            `/releases/amd64/autobuilds/${STAMP}/..%2f..%2flatest-${NAME}.txt`,
            `/releases/amd64/autobuilds/${STAMP}/${file}.json`,
            `/releases/amd64/autobuilds/${STAMP}/${file}%00`,
            `/releases/amd64/autobuilds/latest-nope.txt`,
            `/releases/AMD64/autobuilds/latest-${NAME}.txt`,
          ]) {
            const raw = await rawGet(farm.httpUrl, p);
            assert.equal(raw, 404, p);
          }

          // A pipeline seeded by the pointer: resolved at submit, recorded in the run.
          const next = await farm.cliJson<RunSummary>(
            ["submit", join(dir, "next.yaml"), "--watch", "--json", ...admin],
            {
              timeoutMs: 120_000,
            },
          );
          assert.equal(next.status, "succeeded");
          // The run as the coordinator keeps it (the watch's last message is the run's document).
          const shown = next as RunSummary & {
            releaseInputs?: Array<{
              stage: string;
              input: string;
              release: string;
              digest: string;
              run: string;
            }>;
          };
          assert.deepEqual(shown.releaseInputs, [
            { stage: "stage3", input: "seed", release: NAME, digest: first.digest, run: seed.run },
          ]);

          // The dashboard's key material shows the seed's digest (the run's binding).
          const key = await fetch(`${farm.httpUrl}/api/dashboard/runs/${next.run}/stages/stage3/key`, {
            headers: { authorization: `Bearer ${tokens.viewer}` },
          });
          assert.equal(key.status, 200);
          const material = (await key.json()) as {
            matches: boolean;
            inputs: Array<{ input: string; from: string; digest: string }>;
          };
          assert.equal(material.matches, true, "the key recomputed from the bound seed is the run's");
          assert.deepEqual(material.inputs, [{ input: "seed", from: "artifact", digest: first.digest }]);

          // Two promotions racing from the same reading of the pointer: one wins.
          const race = await Promise.all(
            ["20260102T000000Z", "20260103T000000Z"].map((stamp) =>
              farm.cli(
                [
                  "release",
                  next.run,
                  "--name",
                  NAME,
                  "--stamp",
                  stamp,
                  "--expect",
                  first.digest,
                  "--json",
                  ...admin,
                ],
                {
                  timeoutMs: 120_000,
                },
              ),
            ),
          );
          assert.deepEqual(race.map((r) => r.code).sort(), [0, 1], race.map((r) => r.stderr).join("\n"));
          const loser = race.find((r) => r.code === 1);
          assert.match(
            loser?.stderr ?? "",
            /release pointer "stage3-test" moved: this promotion expected [0-9a-f]{64}; it names [0-9a-f]{64} \(generation 2/,
          );
          const winner = JSON.parse(race.find((r) => r.code === 0)?.stdout.trim() ?? "") as PromotionJson;
          assert.equal(winner.generation, 2);
          assert.deepEqual(
            winner.seeds.map((s) => [s.release, s.digest, s.run]),
            [[NAME, first.digest, seed.run]],
          );
          const latest2 = (await bytes(`${base}/latest-${NAME}.txt`)).toString("utf8");
          assert.equal(
            latest2.split("\n")[2],
            `${winner.stamp}/${NAME}-${winner.stamp}.tar.xz ${winner.files[0]?.size ?? -1}`,
          );

          const log = await farm.cliJson<{ name: string; promotions: PromotionJson[] }>([
            "release",
            "log",
            NAME,
            "--json",
            ...admin,
          ]);
          assert.deepEqual(
            log.promotions.map((p) => [p.generation, p.digest, p.run]),
            [
              [1, first.digest, seed.run],
              [2, winner.digest, next.run],
            ],
          );
          assert.deepEqual(log.promotions[0]?.seeds, []);
          assert.equal(log.promotions[1]?.seeds[0]?.digest, first.digest);
          const human = await farm.cli(["release", "log", NAME, ...admin]);
          assert.match(
            human.stdout,
            new RegExp(`^#2 .* run ${next.run}  seeds ${NAME}@${first.digest.slice(0, 12)}`, "m"),
          );
          // cache gc on the farm's S3 store removes every cache entry and every run's hold, and
          // keeps what the releases name: the released tarballs still download, byte for byte.
          const gc = await farm.cliJson<{ manifestsRemoved: string[]; rootsKept: number }>(
            [
              "cache",
              "gc",
              "--older-than",
              "1ms",
              "--grace",
              "1ms",
              "--keep-runs-for",
              "1ms",
              "--json",
              ...admin,
            ],
            { timeoutMs: 120_000 },
          );
          assert.ok(gc.manifestsRemoved.length > 0, "gc removed the cache entries");
          assert.ok(gc.rootsKept >= 2, `gc kept the released blobs (${gc.rootsKept} roots)`);
          for (const p of [first, winner]) {
            const again = await bytes(`${base}/${p.stamp}/${NAME}-${p.stamp}.tar.xz`);
            assert.equal(createHash("sha256").update(again).digest("hex"), p.digest);
          }
          // The coordinator's gpg started an agent in the temp GNUPGHOME: end it before the leak check.
          await exec("gpgconf", ["--kill", "gpg-agent"], { env: gpgEnv });
        },
      );
    } finally {
      await exec("gpgconf", ["--kill", "gpg-agent"], { env: gpgEnv }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  },
);

/** GET of a path exactly as written (fetch would resolve dot segments first): the status. */
async function rawGet(base: string, path: string): Promise<number> {
  const { request } = await import("node:http");
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: "GET" }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once("error", reject);
    req.end();
  });
}

test("releases on a filesystem store: writers serialised by the store's lock; releaseRootDigests", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sf-release-fs-"));
  try {
    const store = await FsArtifactStore.open(join(dir, "store"));
    try {
      const tar = join(dir, "t.tar");
      await mkdir(join(dir, "root"));
      await writeFile(join(dir, "root", "a"), "a\n");
      await exec("tar", ["-C", join(dir, "root"), "-cf", tar, "a"]);
      const blob = await store.putBlobFile(tar);
      const other = await store.putBlob(Readable.from([Buffer.from("not released")]));
      const attempt = (stamp: string): Promise<Promotion> =>
        publishRelease(
          // Separate queues, as two processes have: only the store's lock orders them.
          { store, locks: new PointerLocks() },
          {
            name: "fs-test",
            arch: "amd64",
            stamp,
            run: "r1",
            pipeline: "p",
            seeds: [],
            sources: [{ stage: "s", output: "o", digest: blob.digest, size: blob.size, ext: ".tar" }],
            expect: { t: "none" },
          },
        );
      const results = await Promise.allSettled([attempt("s1"), attempt("s2")]);
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.flatMap((r) => (r.status === "rejected" ? [StagefarmError.from(r.reason)] : []));
      assert.equal(
        won.length,
        1,
        results.map((r) => (r.status === "rejected" ? String(r.reason) : "won")).join("\n"),
      );
      assert.deepEqual(
        lost.map((e) => e.code),
        ["conflict"],
      );
      const roots = await releaseRootDigests(store);
      assert.ok(roots.has(blob.digest));
      assert.ok(!roots.has(other.digest));
      const again = await attempt("s3").catch((err: unknown) => StagefarmError.from(err));
      assert.ok(
        again instanceof StagefarmError && again.code === "conflict",
        "expect none after a promotion",
      );
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("release --pipeline on one machine, served by stagefarm up", { timeout: 120_000 }, async () => {
  await using sb = await CliSandbox.create();
  const file = join(sb.dir, "seed.yaml");
  await writeFile(file, seedPipeline);
  const early = await sb.run(["release", "--pipeline", file, "--name", NAME]);
  assert.equal(early.code, 1, early.stderr);
  assert.match(early.stderr, /not in the local cache: run the pipeline first/);
  const built = await sb.run(["run", "-q", file]);
  assert.equal(built.code, 0, built.stderr);
  const r = await sb.run(["release", "--pipeline", file, "--name", NAME, "--stamp", STAMP, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout.trim()) as PromotionJson;
  assert.equal(p.run, "local");
  const log = await sb.run(["release", "log", NAME, "--local", "--json"]);
  assert.deepEqual(
    (JSON.parse(log.stdout) as { promotions: PromotionJson[] }).promotions.map((x) => x.digest),
    [p.digest],
  );
  const child = sb.spawn(["up", "--http", "127.0.0.1:0"]);
  try {
    const base = (await child.waitForOutput(/listening on (http:\/\/\S+)/, 20_000))[1] ?? "";
    const latest = (await bytes(`${base}/releases/amd64/autobuilds/latest-${NAME}.txt`)).toString("utf8");
    const line = latest.split("\n")[2] ?? "";
    assert.equal(line, `${STAMP}/${NAME}-${STAMP}.tar.xz ${p.files[0]?.size ?? -1}`);
    const body = await bytes(`${base}/releases/amd64/autobuilds/${line.split(" ")[0] ?? ""}`);
    assert.equal(createHash("sha256").update(body).digest("hex"), p.digest);
    assert.equal(await child.stop("SIGTERM"), 143, child.describe());
  } finally {
    child.kill();
  }
});
