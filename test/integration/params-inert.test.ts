/**
 * Params never become code, end to end through the real runners: hostile param values reach a
 * shell stage and a chroot stage (a debootstrap root) through `env:`, parsed and resolved from
 * pipeline YAML as `stagefarm run` does; each script writes "$V<n>" to an output, and the test
 * compares the bytes and checks that nothing the values ask for happened.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { StageExecutor } from "../../agent/index.js";
import { createChrootRunner } from "../../agent/runners/chroot/index.js";
import { createShellRunner } from "../../agent/runners/shell/index.js";
import { sha256 } from "../../shared/digest.js";
import { silentLogger } from "../../shared/log.js";
import { PipelineError, parsePipeline, resolvePipeline } from "../../shared/pipeline/index.js";
import type { ArtifactRef, ResolvedStage } from "../../shared/pipeline/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { debootstrapRootfs } from "../helpers/debootstrap.js";
import { hostMountsUnder } from "../helpers/leak-probes.js";

const tag = `${process.pid}-${Date.now()}`;
/** What an injection would create, on the host or in the root. */
const MARK = `sf-pwned-${tag}`;

const HOSTILE: readonly string[] = [
  `'; touch /tmp/${MARK}-q; '`,
  `'; touch /tmp/pwned-$RANDOM; '`,
  `$(touch /tmp/${MARK}-s)`,
  `\`touch /tmp/${MARK}-b\``,
  `"; touch /tmp/${MARK}-d; "`,
  `back\\slash \\" \\$(touch /tmp/${MARK}-e) \\`,
  `two\nlines; touch /tmp/${MARK}-n`,
  `${"$(touch /tmp/" + MARK + "-l) ".repeat(300)}${"x".repeat(10 * 1024)}`,
];

function pipelineText(root: ArtifactRef): string {
  const params = HOSTILE.map((_, i) => `  v${i}: x\n`).join("");
  const env = HOSTILE.map((_, i) => `      V${i}: "\${{ params.v${i} }}"\n`).join("");
  const writes = (dir: string) =>
    HOSTILE.map((_, i) => `      printf '%s' "$V${i}" > ${dir}/v${i}\n`).join("");
  const outputs = (dir: string) =>
    HOSTILE.map((_, i) => `      v${i}: { path: ${dir}/v${i}, kind: file }\n`).join("");
  return (
    `pipeline: inert\nparams:\n${params}stages:\n` +
    `  sh:\n    runner: shell\n    env:\n${env}    script: |\n      mkdir -p out\n${writes("out")}` +
    `    outputs:\n${outputs("out")}` +
    `  ch:\n    runner: chroot\n    inputs:\n      root: { artifact: "${root.digest}", path: rootfs, unpack: true }\n` +
    `    with: { login: false }\n    env:\n${env}    script: |\n      mkdir -p /out\n${writes("/out")}` +
    `      ls -A /tmp > /out/tmp-listing\n` +
    `    outputs:\n${outputs("rootfs/out")}      listing: { path: rootfs/out/tmp-listing, kind: file }\n`
  );
}

async function pwnedOnHost(): Promise<string[]> {
  return (await readdir("/tmp")).filter((f) => f.startsWith(MARK) || /^pwned-\d+$/.test(f));
}

void describe("hostile params reach shell and chroot scripts as inert data", { timeout: 900_000 }, () => {
  let dir: string;
  let store: FsArtifactStore;
  let executor: StageExecutor;
  let base: ArtifactRef;
  let stages: ResolvedStage[];
  let pwnedBefore: string[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-params-inert-"));
    store = await FsArtifactStore.open(join(dir, "store"));
    base = await debootstrapRootfs(store);
    executor = new StageExecutor({
      store,
      workRoot: join(dir, "work"),
      logger: silentLogger(),
      runners: [createChrootRunner({ killGraceMs: 200 }), createShellRunner({ killGraceMs: 200 })],
    });
    const values = Object.fromEntries(HOSTILE.map((v, i) => [`v${i}`, v]));
    stages = resolvePipeline(parsePipeline(pipelineText(base), "inert/pipeline.yaml"), values);
    pwnedBefore = await pwnedOnHost();
  });
  after(async () => {
    assert.deepEqual(await hostMountsUnder(dir), []);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function runStage(name: string, inputs: Record<string, ArtifactRef>) {
    const stage = stages.find((s) => s.name === name) ?? assert.fail(`no stage ${name}`);
    assert.equal(stage.script?.includes("touch"), false, "no value is in the script text");
    const result = await executor.execute(
      { runId: `run-${name}`, stage, key: sha256(`${tag}-${name}`), inputs, attempt: 1 },
      { signal: new AbortController().signal, jobs: 2, onLog: () => undefined },
    );
    const got: string[] = [];
    for (let i = 0; i < HOSTILE.length; i++) {
      const out = result.outputs[`v${i}`] ?? assert.fail(`no output v${i}`);
      got.push((await buffer(await store.getBlob(out.digest))).toString("utf8"));
    }
    return { got, outputs: result.outputs };
  }

  test("the same pipeline with the params spliced into its scripts is refused before anything runs", () => {
    const spliced = pipelineText(base).replace(/"\$V(\d+)"/g, (_m, i: string) => `'\${{ params.v${i} }}'`);
    assert.notEqual(spliced, pipelineText(base));
    assert.throws(
      () => parsePipeline(spliced, "inert/pipeline.yaml"),
      (err: unknown) =>
        err instanceof PipelineError &&
        err.issues.length === 2 * HOSTILE.length &&
        err.issues.every((i) => i.message.includes("would become shell code")),
    );
  });

  test("shell stage: every value byte for byte, nothing created", async () => {
    const { got } = await runStage("sh", {});
    assert.deepEqual(got, HOSTILE);
    assert.deepEqual(await pwnedOnHost(), pwnedBefore);
  });

  test("chroot stage: every value byte for byte, nothing created inside the root or on the host", async () => {
    const { got, outputs } = await runStage("ch", { root: base });
    assert.deepEqual(got, HOSTILE);
    const listing = outputs["listing"] ?? assert.fail("no listing");
    const inRoot = (await buffer(await store.getBlob(listing.digest))).toString("utf8");
    assert.equal(/sf-pwned|pwned-\d/.test(inRoot), false, `created in the root's /tmp: ${inRoot}`);
    assert.deepEqual(await pwnedOnHost(), pwnedBefore);
  });
});
