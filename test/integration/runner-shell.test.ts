/** The shell runner against real bash processes: results, environment, and process cleanup. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkScriptOutcome, type RunnerContext } from "../../agent/runners/common/index.js";
import { createShellRunner } from "../../agent/runners/shell/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { silentLogger } from "../../shared/log.js";
import type { ResolvedStage } from "../../shared/pipeline/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { marker, processesWith } from "../helpers/leak-probes.js";
import { poll } from "../helpers/poll.js";

function shellStage(script: string, over: Partial<ResolvedStage> = {}): ResolvedStage {
  return {
    pipeline: "test",
    name: "build",
    runner: "shell",
    requires: [],
    inputs: [],
    outputs: [],
    env: {},
    script,
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

/** Kills leftovers of a failed test so it cannot leak processes into the next. */
async function killAll(text: string): Promise<void> {
  for (const pid of await processesWith(text)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw StagefarmError.from(err);
    }
  }
}

void describe("shell runner", () => {
  let dir: string;
  let store: FsArtifactStore;
  const markers: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-shell-"));
    store = await FsArtifactStore.open(join(dir, "store"));
  });
  after(async () => {
    for (const m of markers) await killAll(m);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  let n = 0;
  async function context(stage: ResolvedStage, signal = new AbortController().signal) {
    const workspace = join(dir, `ws-${n++}`);
    await mkdir(workspace);
    let text = "";
    const decoder = new TextDecoder();
    const ctx: RunnerContext = {
      stage,
      workspace,
      store,
      signal,
      logger: silentLogger(),
      jobs: 3,
      log: { write: (c) => (text += typeof c === "string" ? c : decoder.decode(c, { stream: true })) },
    };
    return { ctx, output: () => text };
  }
  const runner = createShellRunner({ killGraceMs: 300 });
  const newMarker = (): string => {
    const m = marker();
    markers.push(m);
    return m;
  };

  void test("a successful script streams its output and writes in the workspace", async () => {
    const { ctx, output } = await context(
      shellStage("echo out; echo err >&2; mkdir -p out && echo hi > out/f; pwd"),
    );
    assert.deepEqual(await runner.run(ctx), {});
    assert.match(output(), /out\n/);
    assert.match(output(), /err\n/);
    assert.match(output(), new RegExp(`${ctx.workspace}\n`));
    assert.equal(await readFile(join(ctx.workspace, "out/f"), "utf8"), "hi\n");
  });

  void test("a non-zero exit fails the stage with its status and the last 30 lines", async () => {
    const { ctx, output } = await context(shellStage("for i in $(seq 1 50); do echo line $i; done\nexit 3"));
    const err = await runner.run(ctx).then(
      () => assert.fail("expected the stage to fail"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StagefarmError);
    assert.equal(err.code, "stage_failed");
    assert.equal(err.message, 'stage "build" failed: script exited with status 3');
    assert.equal(err.details["exitCode"], 3);
    const tail = String(err.details["logTail"]).split("\n");
    assert.equal(tail.length, 30);
    assert.equal(tail[0], "line 21");
    assert.equal(tail[29], "line 50");
    assert.match(output(), /^line 1\n/);
  });

  void test("bash runs with -e and pipefail", async () => {
    const { ctx, output } = await context(shellStage("echo before\nfalse | true\necho after"));
    await assert.rejects(
      runner.run(ctx),
      (e: unknown) => e instanceof StagefarmError && e.code === "stage_failed",
    );
    assert.match(output(), /before/);
    assert.doesNotMatch(output(), /after/);
  });

  void test("a script killed by a signal says so", async () => {
    const { ctx } = await context(shellStage("kill -KILL $$"));
    await assert.rejects(runner.run(ctx), (e: unknown) => {
      assert.ok(e instanceof StagefarmError);
      assert.equal(e.code, "stage_failed");
      assert.match(e.message, /killed by signal SIGKILL/);
      return true;
    });
  });

  void test("the environment is the stage's env over a minimal base, nothing of the agent's", async () => {
    process.env["STAGEFARM_TEST_SECRET"] = "x";
    try {
      const { ctx, output } = await context(
        shellStage("env", { env: { FOO: "bar", SOURCE_DATE_EPOCH: "1700000000" } }),
      );
      await runner.run(ctx);
      const env = new Map(
        output()
          .trim()
          .split("\n")
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
      assert.equal(env.has("STAGEFARM_TEST_SECRET"), false);
      assert.doesNotMatch(output(), /STAGEFARM_TEST_SECRET/);
      assert.equal(env.get("PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
      assert.equal(env.get("HOME"), ctx.workspace);
      assert.equal(env.get("TMPDIR"), join(ctx.workspace, ".stagefarm/tmp"));
      assert.equal(env.get("LC_ALL"), "C");
      assert.equal(env.get("MAKEOPTS"), "-j3");
      assert.equal(env.get("STAGEFARM_JOBS"), "3");
      assert.equal(env.get("STAGEFARM_STAGE"), "build");
      assert.equal(env.get("STAGEFARM_WORKSPACE"), ctx.workspace);
      assert.equal(env.get("FOO"), "bar");
      assert.equal(env.get("SOURCE_DATE_EPOCH"), "1700000000");
      const allowed = new Set([
        ...["PATH", "HOME", "LC_ALL", "TMPDIR", "MAKEOPTS", "SOURCE_DATE_EPOCH", "FOO"],
        ...["STAGEFARM_WORKSPACE", "STAGEFARM_STAGE", "STAGEFARM_JOBS", "PWD", "SHLVL", "_"],
      ]);
      assert.deepEqual(
        [...env.keys()].filter((k) => !allowed.has(k)),
        [],
      );
    } finally {
      delete process.env["STAGEFARM_TEST_SECRET"];
    }
  });

  void test("SOURCE_DATE_EPOCH defaults to 1980-01-01", async () => {
    const { ctx, output } = await context(shellStage('echo "sde=$SOURCE_DATE_EPOCH"'));
    await runner.run(ctx);
    assert.match(output(), /^sde=315532800$/m);
  });

  void test("a timeout kills the whole process group", async () => {
    const m = newMarker();
    const stage = shellStage(`sleep ${m} &\nsleep ${m} &\necho started\nsleep ${m}`, { timeoutMs: 500 });
    const { ctx } = await context(stage);
    await assert.rejects(runner.run(ctx), (e: unknown) => {
      assert.ok(e instanceof StagefarmError);
      assert.equal(e.code, "timeout");
      assert.equal(e.message, 'stage "build" timed out after 0.5s');
      return true;
    });
    await poll(async () => (await processesWith(m)).length === 0, {
      timeoutMs: 5000,
      what: "the script's processes to be gone",
    });
  });

  void test("a script that ignores SIGTERM is killed after the grace period", async () => {
    const m = newMarker();
    const controller = new AbortController();
    const { ctx, output } = await context(
      shellStage(`trap '' TERM\nsleep ${m} &\necho started\nwait`),
      controller.signal,
    );
    const running = runner.run(ctx);
    await poll(() => output().includes("started"), { timeoutMs: 5000, what: "the script to start" });
    // The background sleep may still be between fork and exec when "started" is printed.
    await poll(async () => (await processesWith(m)).length === 1, {
      timeoutMs: 5000,
      what: "the background sleep",
    });
    const t0 = Date.now();
    controller.abort();
    await assert.rejects(running, (e: unknown) => e instanceof StagefarmError && e.code === "cancelled");
    assert.ok(Date.now() - t0 >= 250, "SIGKILL came only after the grace period");
    await poll(async () => (await processesWith(m)).length === 0, {
      timeoutMs: 5000,
      what: "the script's processes to be gone",
    });
  });

  void test("abort kills the script and the children it started", async () => {
    const m = newMarker();
    const controller = new AbortController();
    const script = `sleep ${m} &\n(sleep ${m}; echo never) &\necho started\nwait`;
    const { ctx, output } = await context(shellStage(script), controller.signal);
    const running = runner.run(ctx);
    await poll(() => output().includes("started"), { timeoutMs: 5000, what: "the script to start" });
    await poll(async () => (await processesWith(m)).length === 2, { timeoutMs: 5000, what: "both children" });
    controller.abort();
    await assert.rejects(running, (e: unknown) => {
      assert.ok(e instanceof StagefarmError);
      assert.equal(e.code, "cancelled");
      assert.equal(e.message, 'stage "build" was cancelled');
      return true;
    });
    await poll(async () => (await processesWith(m)).length === 0, {
      timeoutMs: 5000,
      what: "the script's processes to be gone",
    });
    assert.doesNotMatch(output(), /never/);
  });

  void test("background children a successful script left behind are killed", async () => {
    const m = newMarker();
    const { ctx, output } = await context(
      shellStage(`sleep ${m} &\nsleep ${m} >/dev/null 2>&1 &\necho done`),
    );
    const t0 = Date.now();
    await runner.run(ctx);
    assert.ok(Date.now() - t0 < 10_000, "the runner does not wait for the children");
    assert.match(output(), /done/);
    await poll(async () => (await processesWith(m)).length === 0, {
      timeoutMs: 5000,
      what: "the children to be gone",
    });
  });
});

void describe("script outcome", () => {
  const ended = { exitCode: undefined, signal: undefined, timedOut: false, cancelled: false };
  void test("status 0 is success", () => {
    checkScriptOutcome("s", { ...ended, exitCode: 0 }, { timeoutMs: 1000, logTail: "" });
  });
  void test("a timeout names the limit as written", () => {
    for (const [ms, text] of [
      [1_800_000, "30m"],
      [7_200_000, "2h"],
      [90_000, "90s"],
    ] as const) {
      assert.throws(
        () =>
          checkScriptOutcome(
            "s",
            { ...ended, signal: "SIGKILL", timedOut: true },
            { timeoutMs: ms, logTail: "" },
          ),
        (e: unknown) =>
          e instanceof StagefarmError &&
          e.code === "timeout" &&
          e.message === `stage "s" timed out after ${text}`,
      );
    }
  });
});
