/** The stage executor end to end: a real store, real packing, real bash, a local HTTP server. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { promisify } from "node:util";
import { createShellRunner } from "../../agent/runners/shell/index.js";
import { StageExecutor } from "../../agent/index.js";
import { sha256 } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import { logPathFor, type StageJob } from "../../shared/job.js";
import { silentLogger } from "../../shared/log.js";
import { packTree, unpackBlob } from "../../shared/pack/index.js";
import type { ArtifactRef, InputSpec, OutputSpec, ResolvedStage } from "../../shared/pipeline/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { TestHttpServer } from "../helpers/http-server.js";
import { poll } from "../helpers/poll.js";

const execFileAsync = promisify(execFile);
const pos = { file: "pipeline.yaml", line: 1, col: 1 };

function stage(over: Partial<ResolvedStage>): ResolvedStage {
  return {
    pipeline: "test",
    name: "build",
    runner: "shell",
    requires: [],
    inputs: [],
    outputs: [],
    env: {},
    sources: [],
    with: {},
    timeoutMs: 60_000,
    retries: 0,
    clampMtime: true,
    platform: "linux/x86_64",
    paramsUsed: [],
    ...over,
  };
}

function output(name: string, path: string, extra: Partial<OutputSpec> = {}): OutputSpec {
  return { name, path, exclude: [], pos, ...extra };
}

function upstream(name: string, path: string, unpack = true): InputSpec {
  return { t: "stage", name, stage: "fetch", output: name, path, unpack, pos };
}

const PATCH = "a pinned patch\n";

const BUILD_SCRIPT = `
test -f inputs/src/hello.c
mkdir -p out/tree/bin out/tree/junk
cp inputs/src/hello.c out/tree/bin/hello.c
cat inputs/src/sub/dir/data inputs/patch.txt > out/tree/combined
echo scratch > out/tree/junk/scratch
# A different mtime on every run: only the clamp makes the tree reproducible.
touch -d "@$((1600000000 + RANDOM))" out/tree/combined
printf 'binary %s\\n' "$STAGEFARM_STAGE" > out/bin
echo "built in $PWD"
`;

void describe("StageExecutor", () => {
  let dir: string;
  let workRoot: string;
  let store: FsArtifactStore;
  let http: TestHttpServer;
  let executor: StageExecutor;
  let srcRef: ArtifactRef;
  let runs = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-exec-"));
    workRoot = join(dir, "work");
    store = await FsArtifactStore.open(join(dir, "store"));
    http = await TestHttpServer.start();
    http.route("/patch.txt", { status: 200, body: PATCH });
    executor = new StageExecutor({ store, workRoot, logger: silentLogger(), killGraceMs: 200 });
    const src = join(dir, "src");
    await mkdir(join(src, "sub/dir"), { recursive: true });
    await writeFile(join(src, "hello.c"), "int main(void) { return 0; }\n");
    await writeFile(join(src, "sub/dir/data"), "data\n");
    const blob = await packTree(src, store, { clampMtimeSec: 315532800 });
    srcRef = { digest: blob.digest, size: blob.size, kind: "tree" };
  });
  after(async () => {
    await http.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  function buildStage(over: Partial<ResolvedStage> = {}): ResolvedStage {
    return stage({
      inputs: [
        upstream("src", "inputs/src"),
        {
          t: "source",
          name: "patch",
          source: { url: http.url("/patch.txt"), sha256: sha256(PATCH) },
          path: "inputs/patch.txt",
          unpack: false,
          pos,
        },
      ],
      outputs: [
        output("tree", "out/tree", { exclude: ["junk/*"] }),
        output("bin", "out/bin", { kind: "file" }),
      ],
      script: BUILD_SCRIPT,
      ...over,
    });
  }

  function job(s: ResolvedStage, inputs: Record<string, ArtifactRef> = { src: srcRef }): StageJob {
    return { runId: `run${++runs}`, stage: s, key: sha256(`key${runs}`), inputs, attempt: 1 };
  }

  const run = (j: StageJob, onLog?: (c: string) => void, signal = new AbortController().signal) =>
    executor.execute(j, { signal, jobs: 2, onLog });

  async function failure(p: Promise<unknown>): Promise<StagefarmError> {
    const e = await p.then(
      () => assert.fail("expected the stage to fail"),
      (err: unknown) => err,
    );
    assert.ok(e instanceof StagefarmError, `not a StagefarmError: ${String(e)}`);
    return e;
  }

  async function workspaces(): Promise<string[]> {
    return await readdir(workRoot);
  }

  void test("places inputs, runs the script, stores tree and file outputs", async () => {
    const j = job(buildStage());
    const live: string[] = [];
    const t0 = performance.now();
    const result = await run(j, (c) => live.push(c));
    const wallMs = performance.now() - t0;
    assert.deepEqual(Object.keys(result.outputs).sort(), ["bin", "tree"]);
    assert.equal(result.outputs["tree"]?.kind, "tree");
    assert.equal(result.outputs["bin"]?.kind, "file");
    // The stage's own time, in whole ms: a script in a new process takes at least one, and it
    // cannot exceed the time the whole call took.
    assert.ok(Number.isInteger(result.durationMs), `durationMs ${result.durationMs}`);
    assert.ok(
      result.durationMs >= 1 && result.durationMs <= Math.ceil(wallMs),
      `durationMs ${result.durationMs} within (0, ${wallMs}]`,
    );

    const check = join(dir, "check-1");
    await unpackBlob(store, result.outputs["tree"]?.digest ?? "", check, { allowDevices: false });
    assert.equal(await readFile(join(check, "bin/hello.c"), "utf8"), "int main(void) { return 0; }\n");
    assert.equal(await readFile(join(check, "combined"), "utf8"), `data\n${PATCH}`);
    assert.deepEqual(await readdir(join(check, "junk")), [], "excluded paths are left out");
    assert.equal((await stat(join(check, "combined"))).mtimeMs, 315532800_000, "mtimes are clamped");
    const bin = result.outputs["bin"];
    assert.ok(bin);
    assert.equal(await text(await store.getBlob(bin.digest)), "binary build\n");
    assert.equal(bin.digest, sha256("binary build\n"));

    assert.deepEqual(await workspaces(), [], "the workspace is removed after success");
    assert.equal(result.logPath, logPathFor(j.runId, "build", 1));
    const log = await text(await store.getLog(result.logPath));
    assert.match(log, /^>>> unpacking input src \(sha256 [0-9a-f]{12}…\) into inputs\/src$/m);
    assert.match(log, /^>>> placing input patch \(sha256 [0-9a-f]{12}…\) at inputs\/patch.txt$/m);
    assert.match(log, /^>>> packing output tree \(out\/tree\)$/m);
    assert.match(log, /^built in \//m);
    assert.equal(live.join(""), log, "the live log and the stored log are the same text");
  });

  void test("outputs are deterministic: the same stage run twice gives the same digests", async () => {
    const a = await run(job(buildStage()));
    const b = await run(job(buildStage()));
    assert.deepEqual(a.outputs, b.outputs);
  });

  void test("a missing declared output is missing_output naming it; the workspace is removed", async () => {
    const s = buildStage({ outputs: [output("bin", "out/hello")] });
    const j = job(s);
    const e = await failure(run(j));
    assert.equal(e.code, "missing_output");
    assert.equal(e.message, 'stage "build" did not write declared output "bin" (expected at out/hello)');
    assert.equal(e.details["logPath"], logPathFor(j.runId, "build", 1));
    const log = await text(await store.getLog(logPathFor(j.runId, "build", 1)));
    assert.match(log, /stage failed \(missing_output\)/);
    assert.deepEqual(await workspaces(), []);
  });

  void test("an output of the wrong kind is an error", async () => {
    const e = await failure(run(job(buildStage({ outputs: [output("bin", "out/bin", { kind: "tree" })] }))));
    assert.equal(e.code, "missing_output");
    assert.match(e.message, /output "bin" is declared as a tree \(directory\) but out\/bin is a file/);
  });

  void test("a failing script fails the stage with its log stored; the workspace is removed", async () => {
    const j = job(buildStage({ script: "echo doing things\nexit 7" }));
    const e = await failure(run(j));
    assert.equal(e.code, "stage_failed");
    assert.equal(e.message, 'stage "build" failed: script exited with status 7');
    assert.equal(e.details["exitCode"], 7);
    assert.match(String(e.details["logTail"]), /doing things/);
    const log = await text(await store.getLog(String(e.details["logPath"])));
    assert.match(log, /^doing things$/m);
    assert.deepEqual(await workspaces(), []);
  });

  void test("a failed workspace can be kept for debugging", async () => {
    const keeping = new StageExecutor({ store, workRoot, logger: silentLogger(), keepFailedWorkspace: true });
    const e = await failure(
      keeping.execute(job(stage({ script: "touch left-here; exit 1" })), {
        signal: new AbortController().signal,
        jobs: 1,
      }),
    );
    const ws = String(e.details["workspace"]);
    try {
      const name = ws.slice(workRoot.length + 1);
      // Marked kept beside it (the sweep leaves it), and named in the message.
      assert.deepEqual((await workspaces()).sort(), [name, `${name}.kept`]);
      assert.deepEqual((await readdir(ws)).sort(), [".stagefarm", "left-here"]);
      assert.ok(e.message.endsWith(`(workspace kept at ${ws})`), e.message);
    } finally {
      await rm(ws, { recursive: true, force: true });
      await rm(`${ws}.kept`, { force: true });
    }
  });

  void test("an input whose blob is not in the store is not_found naming stage, input and digest", async () => {
    const missing = sha256("never stored");
    const e = await failure(run(job(buildStage(), { src: { digest: missing, size: 1, kind: "tree" } })));
    assert.equal(e.code, "not_found");
    assert.match(e.message, /stage "build" input "src"/);
    assert.ok(e.message.includes(missing), e.message);
    assert.deepEqual(await workspaces(), []);
  });

  void test("a pinned source with the wrong digest fails the stage before the script runs", async () => {
    const s = buildStage({
      inputs: [
        {
          t: "source",
          name: "patch",
          source: { url: http.url("/patch.txt"), sha256: sha256("other") },
          path: "p",
          unpack: false,
          pos,
        },
      ],
      script: "echo script ran",
    });
    const live: string[] = [];
    const e = await failure(run(job(s, {}), (c) => live.push(c)));
    assert.equal(e.code, "digest_mismatch");
    assert.doesNotMatch(live.join(""), /script ran/);
  });

  void test("an input placed through a symlink leading out of the workspace is refused", async () => {
    const evil = join(dir, "evil");
    const outside = join(dir, "outside");
    await mkdir(evil);
    await mkdir(outside);
    await symlink(outside, join(evil, "var"));
    const blob = await packTree(evil, store, {});
    const s = buildStage({
      inputs: [upstream("root", "rootfs"), upstream("src", "rootfs/var/src", false)],
      outputs: [],
      script: "true",
    });
    const e = await failure(
      run(job(s, { root: { digest: blob.digest, size: blob.size, kind: "tree" }, src: srcRef })),
    );
    assert.equal(e.code, "unsafe_archive");
    assert.match(e.message, /input "src"/);
    assert.deepEqual(await readdir(outside), [], "nothing was written outside");
  });

  void test("a pinned tarball with unpack: true is unpacked in place", async () => {
    const tree = join(dir, "tarball-src");
    await mkdir(join(tree, "pkg-1.0"), { recursive: true });
    await writeFile(join(tree, "pkg-1.0/README"), "pkg readme\n");
    const tarball = join(dir, "pkg-1.0.tar.gz");
    await execFileAsync("tar", ["-czf", tarball, "-C", tree, "pkg-1.0"]);
    const bytes = await readFile(tarball);
    http.route("/pkg-1.0.tar.gz", { status: 200, body: bytes });
    const s = stage({
      inputs: [
        {
          t: "source",
          name: "pkg",
          source: { url: http.url("/pkg-1.0.tar.gz"), sha256: sha256(bytes) },
          path: "src",
          unpack: true,
          pos,
        },
      ],
      outputs: [output("readme", "out")],
      script: "cp src/pkg-1.0/README out",
    });
    const result = await run(job(s, {}));
    assert.deepEqual(result.outputs["readme"], { digest: sha256("pkg readme\n"), size: 11, kind: "file" });
  });

  void test("a stage for a runner this agent lacks is invalid_argument", async () => {
    const shellOnly = new StageExecutor({
      store,
      workRoot,
      logger: silentLogger(),
      runners: [createShellRunner()],
    });
    const e = await failure(
      shellOnly.execute(job(stage({ runner: "catalyst" }), {}), {
        signal: new AbortController().signal,
        jobs: 1,
      }),
    );
    assert.equal(e.code, "invalid_argument");
    assert.match(e.message, /^no runner for kind catalyst on this agent \(it has: shell\)/);
    assert.match(await text(await store.getLog(String(e.details["logPath"]))), /no runner for kind catalyst/);
  });

  void test("a fetch stage returns its sources as outputs", async () => {
    const s = stage({
      name: "distfiles",
      runner: "fetch",
      sources: [{ name: "patch", source: { url: http.url("/patch.txt"), sha256: sha256(PATCH) } }],
    });
    const result = await run(job(s, {}));
    assert.deepEqual(result.outputs, { patch: { digest: sha256(PATCH), size: PATCH.length, kind: "file" } });
  });

  void test("cancelling a running stage kills it, stores its log and removes the workspace", async () => {
    const controller = new AbortController();
    const live: string[] = [];
    const j = job(stage({ script: "echo started\nsleep 300" }));
    const running = run(j, (c) => live.push(c), controller.signal);
    await poll(() => live.join("").includes("started\n"), { timeoutMs: 10_000, what: "the script to start" });
    controller.abort();
    const e = await failure(running);
    assert.equal(e.code, "cancelled");
    assert.match(await text(await store.getLog(logPathFor(j.runId, "build", 1))), /started/);
    assert.deepEqual(await workspaces(), []);
  });

  void test("a job cancelled before it starts does nothing", async () => {
    const controller = new AbortController();
    controller.abort();
    const j = job(stage({ script: "true" }));
    const e = await failure(run(j, undefined, controller.signal));
    assert.equal(e.code, "cancelled");
    assert.equal(e.message, 'stage "build" was cancelled before it started');
    await assert.rejects(
      store.getLog(logPathFor(j.runId, "build", 1)),
      (err: unknown) => err instanceof StagefarmError && err.code === "not_found",
    );
  });
});
