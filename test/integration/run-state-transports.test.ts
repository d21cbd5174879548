/**
 * One truth for a run's state: the gRPC API (what `run show` prints) and the dashboard's JSON
 * agree on every stage of a run that mixes a cache hit from an earlier run, a stage executed
 * before a coordinator restart (a cache hit after it, still `done`), and a stage re-dispatched
 * after its agent stalled past the lease, whose dispatches both show.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { toJson } from "@bufbuild/protobuf";
import { RunSchema, type Run } from "../../proto/gen/stagefarm/v1/run_pb.js";
import { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { createStagefarmApi } from "../../coordinator/testing.js";
import { DashboardFarm } from "../helpers/dashboard-farm.js";
import { poll } from "../helpers/poll.js";

const FIRST = `pipeline: mixed
stages:
  pre:
    runner: shell
    script: mkdir -p out && echo pre > out/p
    outputs: { p: out/p }
`;

const SECOND = `pipeline: mixed
stages:
  pre:
    runner: shell
    script: mkdir -p out && echo pre > out/p
    outputs: { p: out/p }
  quick:
    runner: shell
    inputs: { p: { from: pre.p, unpack: false } }
    script: mkdir -p out && cat inputs/p > out/q && echo quick >> out/q
    outputs: { q: out/q }
  slow:
    runner: shell
    inputs: { q: { from: quick.q, unpack: false } }
    script: mkdir -p out && sleep 1.5 && cat inputs/q > out/s
    outputs: { s: out/s }
`;

interface StageView {
  name: string;
  state: string;
  agent: string;
  dispatches: string[][];
}

/** What both transports must agree on, from a proto3-JSON run. */
function view(json: unknown): StageView[] {
  const run = json as {
    stages?: Array<{
      name: string;
      state?: string;
      agent?: string;
      attempts?: Array<{ dispatches?: Array<{ agent?: string; end?: string }> }>;
    }>;
  };
  return (run.stages ?? []).map((s) => ({
    name: s.name,
    state: s.state ?? "",
    agent: s.agent ?? "",
    dispatches: (s.attempts ?? []).flatMap((a) =>
      (a.dispatches ?? []).map((d) => [d.agent ?? "", d.end ?? ""]),
    ),
  }));
}

test("the API and the dashboard agree on cached, done-before-a-restart and re-dispatched stages", async () => {
  await using dash = await DashboardFarm.create({ leaseMs: 800, heartbeatMs: 100 });
  const farm = dash.farm;
  const victim = farm.addAgent("victim", ["x86_64"]);
  const first = await farm.coordinator.submit({ yaml: FIRST, path: "m.yaml", params: {} });
  await farm.coordinator.settled(first.id);

  const run = await farm.coordinator.submit({ yaml: SECOND, path: "m.yaml", params: {} });
  await poll(async () => (await farm.coordinator.worker.record(run.id, "slow"))?.t === "running", {
    timeoutMs: 20_000,
    what: "slow claimed by the victim",
  });
  // The victim stalls (no heartbeats, its script runs on); the coordinator restarts meanwhile.
  victim.stopHeartbeats();
  await dash.restart();
  farm.addAgent("rescuer", ["x86_64"]);
  const api = createStagefarmApi({
    coordinator: farm.coordinator,
    store: farm.store,
    bus: farm.bus,
    subjects: farm.subjects,
  });
  const ctx = {
    signal: AbortSignal.timeout(30_000),
    metadata: new Metadata(),
    peer: "test",
    method: StagefarmService.method.getRun,
    principal: undefined,
  };
  const viaApi = async (): Promise<StageView[]> => {
    const r = await api.getRun({ runId: run.id, $typeName: "stagefarm.v1.GetRunRequest" }, ctx);
    return view(toJson(RunSchema, r.run as Run));
  };
  const viaDashboard = async (): Promise<StageView[]> => {
    const res = await fetch(`${dash.base}/api/dashboard/runs/${run.id}`);
    return view(((await res.json()) as { run: unknown }).run);
  };
  await poll(async () => (await farm.coordinator.getRun(run.id)).status !== "running", {
    timeoutMs: 30_000,
    what: "the run to finish",
  });
  // The dashboard follows the run from its events: poll until it has seen the end.
  const fromDashboard = await poll(
    async () => {
      const v = await viaDashboard();
      return v.every((s) => s.state !== "STAGE_STATE_RUNNING") ? v : undefined;
    },
    { timeoutMs: 10_000, what: "the dashboard to show the finished run" },
  );
  const fromApi = await viaApi();
  assert.deepEqual(fromDashboard, fromApi, "the dashboard and run show agree");
  assert.deepEqual(
    fromApi.map((s) => [s.name, s.state]),
    [
      ["pre", "STAGE_STATE_CACHED"],
      ["quick", "STAGE_STATE_DONE"],
      ["slow", "STAGE_STATE_DONE"],
    ],
  );
  assert.deepEqual(fromApi.find((s) => s.name === "slow")?.dispatches, [
    ["victim", "DISPATCH_END_LEASE_EXPIRED"],
    ["rescuer", "DISPATCH_END_FINISHED"],
  ]);
});
