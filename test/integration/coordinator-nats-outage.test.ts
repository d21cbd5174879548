/**
 * The coordinator rides out a NATS outage (issue 15: infrastructure faults never fail a stage):
 * its state is a KV bucket on a real nats-server, which is stopped at the moment the engine
 * reads the record of a stage it is about to dispatch, and started again once that read failed.
 * The stage waits for NATS instead of failing; the run succeeds with every stage done once.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { RunDoc } from "../../coordinator/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { silentLogger } from "../../shared/log.js";
import { connectNats, NatsKvStore } from "../../shared/nats/index.js";
import type { KvStore } from "../../shared/ports/index.js";
import { MemoryFarm } from "../helpers/memory-farm.js";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { poll } from "../helpers/poll.js";

const yaml = `pipeline: chain
stages:
  first:
    runner: shell
    script: mkdir -p out && echo one > out/x
    outputs: { x: out/x }
  second:
    runner: shell
    inputs: { x: { from: first.x, unpack: false } }
    script: mkdir -p out && cat inputs/x > out/y && echo two >> out/y
    outputs: { y: out/y }
`;

/**
 * The bucket, with one fault: the first read of `stages.*.second` stops the server before it is
 * sent, and starts it again once the read has failed (a real error of the real client).
 */
function stopOnceAt(kv: KvStore, nats: NatsServerHandle, seen: { failure?: StagefarmError }): KvStore {
  let armed = true;
  const get = async (key: string): Promise<Awaited<ReturnType<KvStore["get"]>>> => {
    if (!armed || !/^stages\.[^.]+\.second$/.test(key)) return kv.get(key);
    armed = false;
    await nats.stop();
    try {
      return await kv.get(key);
    } catch (err: unknown) {
      seen.failure = StagefarmError.from(err);
      throw err;
    } finally {
      await nats.restart();
    }
  };
  return new Proxy(kv, {
    get(target, prop) {
      if (prop === "get") return get;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe("coordinator over a NATS KV that goes away", () => {
  test("a stage dispatched while NATS is down waits for it, and the run succeeds", async () => {
    await using nats = await startNatsServer();
    const nc = await connectNats(nats.url, { name: "outage-test", logger: silentLogger() });
    try {
      const seen: { failure?: StagefarmError } = {};
      const kv = stopOnceAt(await NatsKvStore.open(nc, "outage_state"), nats, seen);
      await using farm = await MemoryFarm.create({ kv });
      farm.addAgent("a1", ["x86_64"]);
      const run = await farm.coordinator.submit({ yaml, path: "chain.yaml", params: {} });
      const doc = await poll(
        async () => {
          const d: RunDoc = await farm.coordinator.getRun(run.id);
          return d.status === "running" ? undefined : d;
        },
        { timeoutMs: 60_000, what: `run ${run.id} to finish` },
      );
      // The fault happened, as NATS being away (not some other error).
      assert.equal(seen.failure?.code, "unavailable", seen.failure?.message);
      assert.equal(doc.status, "succeeded", JSON.stringify(doc.stages));
      assert.deepEqual(
        Object.fromEntries(Object.entries(doc.stages).map(([n, s]) => [n, [s.state, s.attempt]])),
        { first: ["done", 1], second: ["done", 1] },
      );
      const rec = await farm.coordinator.worker.record(run.id, "second");
      assert.ok(rec?.t === "finished" && rec.dispatch === 1 && rec.result.ok, JSON.stringify(rec?.t));
      // The run's document in the bucket is the final one (its saves rode out the outage too).
      // The save after the last change is asynchronous: wait for it (a deadline, not a sleep).
      const stored = await poll(
        async () => {
          const e = await farm.kv.get(`runs.${run.id}`);
          const text = e === undefined ? "" : Buffer.from(e.value).toString();
          return /"status":"succeeded"/.test(text) ? text : undefined;
        },
        { timeoutMs: 30_000, what: `the stored document of run ${run.id} to say succeeded` },
      );
      assert.match(stored, /"status":"succeeded"/);
    } finally {
      await nc.close();
    }
  });
});
