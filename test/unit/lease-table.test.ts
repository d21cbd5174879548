/**
 * Lease clocks on a fake clock: the lease table's deadlines, renewals due for KV, the claim grace
 * of an omitted stage; and the dispatcher over in-process ports: a restarted coordinator rebuilds
 * a lease from its last renewal in KV (not a fresh TTL), a heartbeat of the owner that no longer
 * lists a stage loses it at once (also a restarted agent with the same id heard before the run
 * resumed), a stage whose result is on the event stream is kept, and every dispatch stays in the
 * record's history with why it ended.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AgentRegistry,
  type DispatchRecord,
  dispatchesOf,
  DispatchWorker,
  LeaseTable,
  leaseTimes,
} from "../../coordinator/testing.js";
import { MemoryBus } from "../../shared/bus/index.js";
import type { StageJob } from "../../shared/job.js";
import { silentLogger } from "../../shared/log.js";
import type { ResolvedStage } from "../../shared/pipeline/index.js";
import { MemoryJobQueue, MemoryKvStore } from "../../shared/ports/index.js";
import type { Heartbeat } from "../../shared/protocol/messages.js";
import { subjects } from "../../shared/protocol/subjects.js";
import { poll } from "../helpers/poll.js";

const TTL = 10_000;

describe("lease table (fake clock)", () => {
  test("a claim lasts a TTL; a heartbeat renews it and says when the renewal is due for KV", () => {
    let now = 1000;
    const t = new LeaseTable(leaseTimes(TTL), () => now);
    t.grant("k", { dispatch: 1, owner: "a1", token: "t1" });
    now = 3000;
    assert.equal(t.extend("k", "a1", "t1", 1), undefined, "a renewal 2 s after the claim is not written yet");
    now = 3500;
    const due = t.extend("k", "a1", "t1", 1);
    assert.ok(due !== undefined, "a quarter TTL after the last write, the renewal is due");
    t.persisted(due, 3500);
    assert.equal(t.extend("k", "a2", "t1", 1), undefined, "another agent extends nothing");
    now = 3500 + TTL - 1;
    assert.deepEqual(t.expired(), []);
    now = 3500 + TTL;
    assert.deepEqual(
      t.expired().map(([k]) => k),
      ["k"],
    );
  });

  test("a lease rebuilt from KV ends a TTL after its last renewal, not a TTL after the restart", () => {
    const now = 20_000;
    const times = leaseTimes(TTL);
    const t = new LeaseTable(times, () => now);
    // Renewed at 15 s, coordinator back at 20 s: the lease still ends at 25 s.
    assert.equal(t.restore("k", { dispatch: 1, owner: "a1", token: "t" }, 1000, 15_000).until, 25_000);
    // Renewed long ago: a live owner still gets the restore grace for a first heartbeat.
    assert.equal(
      t.restore("old", { dispatch: 1, owner: "a1", token: "t" }, 1000, 2000).until,
      20_000 + times.restoreGraceMs,
    );
  });

  test("an owner's heartbeat omitting a stage loses it, unless the claim is younger than the grace", () => {
    let now = 1000;
    const times = leaseTimes(TTL);
    const t = new LeaseTable(times, () => now);
    t.grant("k", { dispatch: 1, owner: "a1", token: "t" });
    t.grant("other", { dispatch: 1, owner: "a2", token: "t" });
    assert.deepEqual(t.omitted("a1", new Set()), [], "a heartbeat racing the claim reply");
    now = 1000 + times.claimGraceMs;
    assert.deepEqual(
      t.omitted("a1", new Set()).map(([k]) => k),
      ["k"],
    );
    assert.deepEqual(t.omitted("a1", new Set(["k"])), [], "listed: kept");
  });
});

const RUN = "r1";
const STAGE = "build";

function job(attempt = 1): StageJob {
  const stage = { name: STAGE, runner: "shell", requires: [] } as unknown as ResolvedStage;
  return { runId: RUN, stage, key: "c".repeat(64), inputs: {}, attempt };
}

function heartbeat(
  agentId: string,
  running: Heartbeat["running"],
  reported?: Heartbeat["running"],
): Heartbeat {
  return {
    v: 1,
    agentId,
    hostname: "h",
    labels: [],
    slots: 2,
    running,
    ...(reported === undefined ? {} : { reported }),
    draining: false,
    diskFreeBytes: 1,
    version: "t",
    sentAt: 0,
  };
}

/** A dispatcher over in-process ports on a fake clock; `restart()` makes a new one over the same KV. */
class Rig {
  now = 1000;
  readonly kv = new MemoryKvStore();
  readonly queue = new MemoryJobQueue();
  readonly bus = new MemoryBus();
  worker = this.newWorker();
  private readonly aborts: AbortController[] = [];
  private readonly waits: Promise<unknown>[] = [];

  newWorker(): DispatchWorker {
    return new DispatchWorker({
      kv: this.kv,
      queue: this.queue,
      bus: this.bus,
      subjects: subjects("t"),
      agents: new AgentRegistry(60_000, () => this.now),
      logger: silentLogger(),
      leaseMs: TTL,
      now: () => this.now,
    });
  }

  /** The engine's `execute` for the stage (as after a restart, it attaches to the record in KV). */
  async execute(): Promise<void> {
    const abort = new AbortController();
    this.aborts.push(abort);
    this.waits.push(this.worker.execute(job(), { signal: abort.signal, jobs: 1 }).catch(() => undefined));
    await poll(async () => (await this.record()) !== undefined, { timeoutMs: 2000, what: "the record" });
  }

  async claim(agentId: string): Promise<string> {
    const rec = await this.record();
    assert.ok(rec?.t === "queued");
    const r = await this.worker.handleClaim({
      v: 1,
      agentId,
      runId: RUN,
      stage: STAGE,
      dispatch: rec.dispatch,
      ...(rec.job.ticket === undefined ? {} : { ticket: rec.job.ticket }),
    });
    assert.ok(r.ok);
    return r.token;
  }

  record(): Promise<DispatchRecord | undefined> {
    return this.worker.record(RUN, STAGE);
  }

  async until(what: string, ok: (r: DispatchRecord | undefined) => boolean): Promise<DispatchRecord> {
    return poll(
      async () => {
        const r = await this.record();
        return r !== undefined && ok(r) ? r : undefined;
      },
      { timeoutMs: 2000, what },
    );
  }

  restart(): void {
    this.worker.shutdown();
    this.worker = this.newWorker();
  }

  async close(): Promise<void> {
    this.worker.shutdown();
    for (const a of this.aborts) a.abort();
    await Promise.allSettled(this.waits);
    await this.queue.close();
    await this.kv.close();
    await this.bus.close();
  }
}

describe("dispatcher lease clocks (fake clock, in-process ports)", () => {
  test("a restarted coordinator expires a dead agent's lease a TTL after its last renewal in KV", async () => {
    const rig = new Rig();
    try {
      await rig.execute();
      const token = await rig.claim("a1");
      const ref = { runId: RUN, stage: STAGE, dispatch: 1, token };
      rig.now = 4000;
      rig.worker.handleHeartbeat(heartbeat("a1", [ref]));
      await rig.until("the renewal written to KV", (r) => r?.t === "running" && r.renewedAt === 4000);
      // The agent dies at 4 s; the coordinator restarts at 6 s.
      rig.now = 6000;
      rig.restart();
      await rig.execute();
      rig.now = 4000 + TTL - 1;
      await rig.worker.checkLeases();
      assert.equal((await rig.record())?.t, "running", "not before a TTL after the last renewal");
      rig.now = 4000 + TTL;
      await rig.worker.checkLeases();
      const rec = await rig.until("dispatch 2", (r) => r?.t === "queued" && r.dispatch === 2);
      assert.deepEqual(
        dispatchesOf(rec).map((d) => [d.dispatch, d.agent, d.end]),
        [
          [1, "a1", "lease_expired"],
          [2, undefined, undefined],
        ],
      );
    } finally {
      await rig.close();
    }
  });

  test("a heartbeat of the owner without the stage loses it at once; a reported result keeps it", async () => {
    const rig = new Rig();
    try {
      await rig.execute();
      const token = await rig.claim("a1");
      const ref = { runId: RUN, stage: STAGE, dispatch: 1, token };
      rig.now = 1500;
      rig.worker.handleHeartbeat(heartbeat("a1", []));
      rig.now = 5000;
      // Finished and on the event stream, not read by the coordinator yet: kept.
      rig.worker.handleHeartbeat(heartbeat("a1", [], [ref]));
      rig.worker.handleHeartbeat(heartbeat("a2", []));
      await rig.worker.checkLeases();
      assert.equal((await rig.record())?.t, "running", "within the claim grace, or reported: kept");
      rig.worker.handleHeartbeat(heartbeat("a1", []));
      const rec = await rig.until("dispatch 2", (r) => r?.t === "queued" && r.dispatch === 2);
      const first = dispatchesOf(rec)[0];
      assert.deepEqual(
        [first?.agent, first?.end, first?.claimedAt, first?.endedAt],
        ["a1", "agent_lost", 1000, 5000],
      );
    } finally {
      await rig.close();
    }
  });

  test("a restarted agent heard before the run resumes: its stage is lost when the lease is rebuilt", async () => {
    const rig = new Rig();
    try {
      await rig.execute();
      await rig.claim("a1");
      rig.now = 8000;
      rig.restart();
      // The agent came back with the same id and runs nothing; the coordinator hears it first.
      rig.worker.handleHeartbeat(heartbeat("a1", []));
      await rig.execute();
      const rec = await rig.until("dispatch 2", (r) => r?.t === "queued" && r.dispatch === 2);
      assert.equal(dispatchesOf(rec)[0]?.end, "agent_lost");
    } finally {
      await rig.close();
    }
  });
});
