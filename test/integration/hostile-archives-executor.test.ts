/**
 * The hostile-archive corpus (test/helpers/hostile-archive-corpus.ts) through the executor's
 * input placement: an upstream tree, a store artifact with `unpack: true` and a pinned download
 * with `unpack: true`. For every case and path the error is `unsafe_archive` naming the stage and
 * the input, the stage's script never runs, the workspace is removed, and the sentinel directory
 * the hostile paths aim at is byte-for-byte as it was. Also: a later input cannot be placed
 * through an earlier input's symlink, and a benign archive goes through all three paths.
 */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { after, before, describe, test } from "node:test";
import { sha256 } from "../../shared/digest.js";
import type { InputSpec } from "../../shared/pipeline/index.js";
import { exists, HostileBench } from "../helpers/hostile-archive-bench.js";
import { assertRefusal, zst } from "../helpers/hostile-archive-corpus.js";
import { dir, regular, symlink } from "../helpers/tar-fixtures.js";
import { failure, job, output, pos, shellStage } from "./agent-hardening-helpers.js";

void describe("hostile archive corpus", { timeout: 300_000 }, () => {
  let bench: HostileBench;
  before(async () => {
    bench = await HostileBench.create();
  });
  after(async () => {
    await bench.close();
  });

  test("the executor refuses every case as an upstream tree, a store artifact and a pinned download", async () => {
    const script = `touch ${bench.ranMarker()}`;
    for (const [i, c] of bench.cases.entries()) {
      const blob = await bench.store.putBlob(Readable.from([c.bytes]));
      bench.http.route(`/case-${i}.tar.zst`, { status: 200, body: c.bytes });
      const inputs: Array<[string, InputSpec, string]> = [
        [
          "upstream tree",
          { t: "stage", name: "evil", stage: "up", output: "tree", path: "inputs/evil", unpack: true, pos },
          "(from up.tree)",
        ],
        [
          "store artifact",
          { t: "artifact", name: "evil", digest: blob.digest, path: "inputs/evil", unpack: true, pos },
          `(artifact sha256 ${blob.digest})`,
        ],
        [
          "pinned download",
          {
            t: "source",
            name: "evil",
            source: { url: bench.http.url(`/case-${i}.tar.zst`), sha256: sha256(c.bytes) },
            path: "inputs/evil",
            unpack: true,
            pos,
          },
          `(${bench.http.url(`/case-${i}.tar.zst`)})`,
        ],
      ];
      for (const [kind, input, named] of inputs) {
        const stage = shellStage("consume", script, {
          inputs: [input],
          outputs: [output("o", "inputs/evil")],
        });
        const err = await failure(
          bench.executor.execute(
            job(stage, { evil: { digest: blob.digest, size: blob.size, kind: "tree" } }),
            {
              signal: new AbortController().signal,
              jobs: 1,
            },
          ),
        );
        assertRefusal(err, c, kind);
        assert.ok(
          err.message.startsWith(`stage "consume" input "evil" ${named}: `),
          `${c.name} (${kind}): names the stage and input: ${err.message}`,
        );
        assert.equal(await exists(bench.ranMarker()), false, `${c.name} (${kind}): the script never ran`);
        assert.deepEqual(await readdir(bench.workRoot), [], `${c.name} (${kind}): the workspace is removed`);
        await bench.assertNothingOutside(`${c.name} (${kind})`);
      }
    }
  });

  test("a later input cannot be placed through an earlier input's absolute symlink", async () => {
    const first = await bench.store.putBlob(
      Readable.from([await zst([dir("./"), symlink("./lib", bench.sentinel)])]),
    );
    const second = await bench.store.putBlob(Readable.from([await zst([regular("passwd", "owned\n")])]));
    const stage = shellStage("consume", `touch ${bench.ranMarker()}`, {
      inputs: [
        { t: "stage", name: "one", stage: "up", output: "one", path: "rootfs", unpack: true, pos },
        { t: "stage", name: "two", stage: "up", output: "two", path: "rootfs/lib/etc", unpack: true, pos },
      ],
    });
    const err = await failure(
      bench.executor.execute(
        job(stage, {
          one: { digest: first.digest, size: first.size, kind: "tree" },
          two: { digest: second.digest, size: second.size, kind: "tree" },
        }),
        { signal: new AbortController().signal, jobs: 1 },
      ),
    );
    assert.equal(err.code, "unsafe_archive");
    assert.match(
      err.message,
      /^stage "consume" input "two" \(from up\.two\): "rootfs\/lib\/etc" would be written outside the workspace/,
    );
    assert.equal(await exists(bench.ranMarker()), false);
    assert.deepEqual(await readdir(bench.workRoot), []);
    await bench.assertNothingOutside("cross-input symlink");
  });

  test("control: a benign archive goes through all three paths and reaches the script", async () => {
    const bytes = await zst([dir("./"), regular("./hello", "hi\n")]);
    const blob = await bench.store.putBlob(Readable.from([bytes]));
    bench.http.route("/benign.tar.zst", { status: 200, body: bytes });
    const inputs: InputSpec[] = [
      { t: "stage", name: "a", stage: "up", output: "tree", path: "inputs/a", unpack: true, pos },
      { t: "artifact", name: "b", digest: blob.digest, path: "inputs/b", unpack: true, pos },
      {
        t: "source",
        name: "c",
        source: { url: bench.http.url("/benign.tar.zst"), sha256: sha256(bytes) },
        path: "inputs/c",
        unpack: true,
        pos,
      },
    ];
    const stage = shellStage(
      "consume",
      "mkdir -p out && cat inputs/a/hello inputs/b/hello inputs/c/hello > out/all",
      {
        inputs,
        outputs: [output("all", "out/all", { kind: "file" })],
      },
    );
    const result = await bench.executor.execute(
      job(stage, { a: { digest: blob.digest, size: blob.size, kind: "tree" } }),
      {
        signal: new AbortController().signal,
        jobs: 1,
      },
    );
    const all = result.outputs["all"];
    assert.ok(all !== undefined);
    assert.equal(await text(await bench.store.getBlob(all.digest)), "hi\nhi\nhi\n");
    assert.deepEqual(await readdir(bench.workRoot), []);
    await bench.assertNothingOutside("benign");
  });
});
