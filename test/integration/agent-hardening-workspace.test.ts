/**
 * Each stage runs in a fresh workspace that is removed afterwards, whatever the outcome:
 * success, a failing script, a timeout, a cancel, a missing output, an unsafe input. Nothing a
 * stage leaves (files in its workspace or TMPDIR, background processes) is visible to the next
 * stage, and each attempt of the same stage gets its own directory.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { pino } from "pino";
import { StageExecutor } from "../../agent/index.js";
import { silentLogger } from "../../shared/log.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { compress, symlink, tarBytes } from "../helpers/tar-fixtures.js";
import { failure, job, output, shellStage, upstreamInput } from "./agent-hardening-helpers.js";
import { poll } from "../helpers/poll.js";

void describe("stage workspaces", () => {
  let dir: string;
  let workRoot: string;
  let store: FsArtifactStore;
  let executor: StageExecutor;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-ws-"));
    workRoot = join(dir, "work");
    store = await FsArtifactStore.open(join(dir, "store"));
    executor = new StageExecutor({ store, workRoot, logger: silentLogger(), killGraceMs: 200 });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const opts = (signal = new AbortController().signal) => ({ signal, jobs: 1 });

  async function outputText(result: { outputs: Record<string, { digest: string }> }, name: string) {
    const o = result.outputs[name];
    assert.ok(o !== undefined, `output ${name}`);
    return await text(await store.getBlob(o.digest));
  }

  test("a stage sees nothing a previous stage left, and every attempt gets its own directory", async () => {
    const litter = shellStage(
      "litter",
      [
        "mkdir -p out && echo $PWD > out/ws",
        "echo secret > leftover && echo tmp > $TMPDIR/leftover-tmp",
        "(sleep 300 &)",
      ].join("\n"),
      { outputs: [output("ws", "out/ws", { kind: "file" })] },
    );
    const first = await executor.execute(job(litter), opts());
    const firstWs = (await outputText(first, "ws")).trim();
    assert.deepEqual(await readdir(workRoot), [], "the first workspace is removed");

    const look = shellStage(
      "look",
      ["mkdir -p out", "echo $PWD > out/ws", "find . $TMPDIR -mindepth 1 | sort > out/seen"].join("\n"),
      { outputs: [output("ws", "out/ws", { kind: "file" }), output("seen", "out/seen", { kind: "file" })] },
    );
    const j = job(look);
    const second = await executor.execute(j, opts());
    const secondWs = (await outputText(second, "ws")).trim();
    assert.notEqual(secondWs, firstWs);
    const seen = (await outputText(second, "seen")).trim().split("\n");
    assert.ok(!seen.some((l) => l.includes("leftover")), `nothing of the first stage: ${seen.join(", ")}`);
    assert.ok(
      seen.every((l) => l.startsWith("./") || l.startsWith(join(secondWs, ".stagefarm/tmp"))),
      `only its own workspace and TMPDIR: ${seen.join(", ")}`,
    );
    const retry = await executor.execute({ ...j, attempt: 2 }, opts());
    const retryWs = (await outputText(retry, "ws")).trim();
    assert.notEqual(retryWs, secondWs);
    assert.match(retryWs, new RegExp(`/${j.runId}-look-2-[0-9a-f]{8}$`));
    assert.deepEqual(await readdir(workRoot), []);
  });

  test("the workspace is removed after a failure, a timeout, a cancel, a missing output and an unsafe input", async () => {
    const evil = await store.putBlob(
      Readable.from([await compress(await tarBytes([symlink("a/l", "../../..")]), "zstd")]),
    );
    const cases: Array<[string, () => Promise<unknown>, string]> = [
      [
        "failing script",
        () => executor.execute(job(shellStage("fail", "echo x > f; exit 7")), opts()),
        "stage_failed",
      ],
      [
        "timeout",
        () => executor.execute(job(shellStage("slow", "sleep 30", { timeoutMs: 300 })), opts()),
        "timeout",
      ],
      [
        "cancel",
        async () => {
          const ac = new AbortController();
          const running = executor.execute(
            job(shellStage("cancelled", "touch started; sleep 30")),
            opts(ac.signal),
          );
          await poll(async () => (await readdir(workRoot)).length > 0, {
            timeoutMs: 5000,
            what: "the workspace",
          });
          ac.abort();
          return await running;
        },
        "cancelled",
      ],
      [
        "missing output",
        () =>
          executor.execute(job(shellStage("nothing", "true", { outputs: [output("o", "out/o")] })), opts()),
        "missing_output",
      ],
      [
        "unsafe input",
        () =>
          executor.execute(
            job(shellStage("unsafe", "true", { inputs: [upstreamInput("t", "inputs/t")] }), {
              t: { digest: evil.digest, size: evil.size, kind: "tree" },
            }),
            opts(),
          ),
        "unsafe_archive",
      ],
    ];
    for (const [what, run, code] of cases) {
      const err = await failure(run());
      assert.equal(err.code, code, `${what}: ${err.message}`);
      assert.deepEqual(await readdir(workRoot), [], `${what}: the workspace is removed`);
    }
  });

  test("a 2000-level deep tree a stage built is removed with its workspace", async () => {
    const deep = shellStage(
      "deep",
      // Five 400-level steps of 9-byte components (each under PATH_MAX): 2000 levels, 18000
      // bytes, far past PATH_MAX, where Node's rm fails with ENAMETOOLONG.
      'p=$(printf "dddddddd/%.0s" $(seq 400)); for i in 1 2 3 4 5; do mkdir -p "$p" && cd "$p" || exit 1; done; echo deep > f',
    );
    await executor.execute(job(deep), opts());
    assert.deepEqual(await readdir(workRoot), [], "the deep workspace is removed");
  });

  test("a workspace that cannot be removed is logged at error and counted, not silent", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    let failures = 0;
    const counting = new StageExecutor({
      store,
      workRoot,
      logger,
      killGraceMs: 200,
      metrics: { workspaceCleanupFailed: () => void (failures += 1) },
    });
    // An immutable file: even root's rm cannot remove it (or its directory).
    const stuck = shellStage("stuck", "mkdir -p keep && echo x > keep/f && chattr +i keep/f");
    await counting.execute(job(stuck), opts());
    const left = await readdir(workRoot);
    try {
      assert.equal(left.length, 1, "the workspace is still there");
      assert.equal(failures, 1, "the failure is counted");
      const logged = lines.map(
        (l) => JSON.parse(l) as { level: number; msg: string; err?: { message?: string } },
      );
      const error = logged.find((l) => l.msg === "could not remove stage workspace");
      assert.ok(error !== undefined, `logged: ${lines.join("")}`);
      assert.equal(error.level, 50, "at error level");
      assert.match(
        error.err?.message ?? "",
        /cannot remove workspace .*: rm exited with status 1: .*Operation not permitted/,
      );
    } finally {
      for (const ws of left) await execa("chattr", ["-i", join(workRoot, ws, "keep/f")]);
      await rm(workRoot, { recursive: true, force: true });
    }
  });
});
