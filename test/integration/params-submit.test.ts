/**
 * Params never become code at submit: the coordinator refuses a pipeline with a template in a
 * script (its issue at the template's position) and a param value that would break out of a
 * config file, before anything is stored or dispatched.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { StagefarmError } from "../../shared/errors.js";
import { PipelineError } from "../../shared/pipeline/index.js";
import { MemoryFarm } from "../helpers/memory-farm.js";

const SPLICED = `params:
  greeting: hi
stages:
  docs:
    runner: shell
    script: |
      mkdir -p out
      echo '\${{ params.greeting }}' > out/g
    outputs: { g: out/g }
`;

const MAKE_CONF = `params:
  cflags: -O2
stages:
  world:
    runner: emerge
    with:
      root: rootfs
      configs:
        - make_conf: |
            CFLAGS="\${{ params.cflags }}"
      emerge: [{ args: [-uDN, "@world"] }]
`;

void describe("submit refuses params that would become code", () => {
  test("a template in a script: the issue at its position, nothing stored", async () => {
    await using farm = await MemoryFarm.create();
    const err = await farm.coordinator.submit({ yaml: SPLICED, path: "docs.yaml", params: {} }).then(
      () => assert.fail("expected the submission to be refused"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof PipelineError, String(err));
    assert.deepEqual(
      err.issues.map((i) => [i.pos.line, i.pos.col]),
      [[8, 13]],
    );
    assert.match(
      err.issues[0]?.message ?? "",
      /inside a script would become shell code; pass it as data: env:/,
    );
    assert.deepEqual(await farm.coordinator.listRuns(), []);
  });

  test("a value that would break out of make.conf's quotes: invalid_argument, nothing stored", async () => {
    await using farm = await MemoryFarm.create();
    const err = await farm.coordinator
      .submit({
        yaml: MAKE_CONF,
        path: "world.yaml",
        params: { cflags: '-O2" PORTAGE_BINHOST="http://evil' },
      })
      .then(
        () => assert.fail("expected the submission to be refused"),
        (e: unknown) => e,
      );
    assert.ok(err instanceof StagefarmError && err.code === "invalid_argument", String(err));
    assert.match(
      err.message,
      /with\.configs\[0\]\.make_conf: param "cflags" cannot be used here: its value holds '"'/,
    );
    assert.deepEqual(await farm.coordinator.listRuns(), []);
    const ok = await farm.coordinator.submit({
      yaml: MAKE_CONF,
      path: "world.yaml",
      params: { cflags: "-O3 -pipe" },
    });
    assert.equal((await farm.coordinator.listRuns()).length, 1, `run ${ok.id} stored`);
    await farm.coordinator.cancel(ok.id);
  });
});
