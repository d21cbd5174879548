/**
 * A whole run under the shipped NATS permissions: the coordinator and two agents, each with its
 * own nkey over TLS, run a pipeline whose stages go to both agents by their labels (a catalyst
 * stage only build-2 may pull), artifacts crossing them through S3, live logs reaching a
 * watcher, a binhost stanza asked for over the bus; nats-server logs no permission violation
 * and the coordinator rejects no message.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sha256 } from "../../shared/digest.js";

import { AuthFarm } from "../helpers/nats-auth-farm.js";
import { busBinhostTransport } from "../../agent/index.js";
import { poll } from "../helpers/poll.js";

const PIPELINE = `pipeline: auth
stages:
  prep:
    runner: shell
    script: mkdir -p out && echo prep > out/p && echo "prep says hello"
    outputs: { p: out/p }
  cat:
    runner: shell
    requires: [catalyst]
    inputs: { p: { from: prep.p, unpack: false } }
    script: mkdir -p out && cat inputs/p > out/x && echo catalyst >> out/x
    outputs: { x: out/x }
  join:
    runner: shell
    inputs: { p: { from: prep.p, unpack: false }, x: { from: cat.x, unpack: false } }
    script: mkdir -p out && cat inputs/p inputs/x > out/all
    outputs: { all: out/all }
`;

describe("a farm under the shipped NATS permissions", () => {
  test("coordinator and two agents with their own users run a pipeline", { timeout: 120_000 }, async () => {
    await using farm = await AuthFarm.start();
    await farm.startAgent("build-1");
    await farm.startAgent("build-2");
    await poll(
      () =>
        farm.coordinator.agents.list().filter((a) => a.state === "idle").length === 2 ? true : undefined,
      { timeoutMs: 20_000, what: "both agents to heartbeat", intervalMs: 100 },
    );
    const subj = farm.conn.subjects;
    const logs: string[] = [];
    const doc = await farm.coordinator.submit({ yaml: PIPELINE, path: "auth.yaml", params: {} });
    const sub = farm.conn.bus.subscribe(subj.logs(doc.id, "*"), (data, subject) =>
      logs.push(`${subject}: ${new TextDecoder().decode(data)}`),
    );
    try {
      await farm.coordinator.settled(doc.id);
    } finally {
      sub.unsubscribe();
    }
    const run = await farm.coordinator.getRun(doc.id);
    assert.equal(run.status, "succeeded", JSON.stringify(run.stages, null, 2));
    assert.equal(run.stages["join"]?.outputs?.["all"]?.digest, sha256("prep\nprep\ncatalyst\n"));
    const owner = async (stage: string): Promise<string | undefined> => {
      const rec = await farm.coordinator.worker.record(doc.id, stage);
      return rec?.t === "finished" ? rec.owner : undefined;
    };
    assert.equal(await owner("cat"), "build-2", "only build-2 may pull catalyst jobs");
    assert.ok(["build-1", "build-2"].includes((await owner("prep")) ?? ""));
    const prepAgent = (await owner("prep")) ?? "";
    assert.ok(
      logs.some(
        (l) => l.startsWith(`sf.logs.${prepAgent}.${doc.id}.prep: `) && l.includes("prep says hello"),
      ),
      `live log of prep from ${prepAgent}:\n${logs.join("\n")}`,
    );

    // An agent asks for a binrepos.conf stanza on its own binhost subject.
    const agent = farm.agents.get("build-1");
    assert.ok(agent);
    const conf = await busBinhostTransport(agent.conn.bus, agent.conn.subjects).conf(
      "amd64",
      "http://farm:9464",
    );
    assert.match(conf, /^\[amd64\]\n/);

    assert.deepEqual(farm.violations(), [], "nats-server logged no permission violation");
    assert.equal(await farm.metric("stagefarm_messages_rejected_total"), 0);
  });
});
