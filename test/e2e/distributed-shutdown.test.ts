/**
 * Shutting a farm down when its NATS server is gone: the first SIGTERM still ends the
 * coordinator and the agent (bounded drain of the connection, deadline after the signal),
 * with exit status 143.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { withFarm } from "../helpers/farm-processes.js";

test("SIGTERM ends the coordinator and an agent while nats-server is down", async () => {
  await withFarm({ agents: [{ id: "a1" }] }, async (farm) => {
    const agent = farm.agents.get("a1");
    const coordinator = farm.coordinator;
    assert.ok(agent !== undefined && coordinator !== undefined);
    await farm.nats.stop();
    coordinator.signal("SIGTERM");
    agent.signal("SIGTERM");
    const [c, a] = await Promise.all([coordinator.ended(40_000), agent.ended(40_000)]);
    assert.deepEqual(c, { code: 143, signal: null }, coordinator.output);
    assert.deepEqual(a, { code: 143, signal: null }, agent.output);
  });
});
