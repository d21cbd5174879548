/**
 * The distributed publish path over a real nats-server: the Coordinator (with its
 * BinhostService) answers `<prefix>.binhost.*` requests on core NATS; an agent's
 * FarmBinhostClient (busBinhostTransport over its own connection) asks for the binrepos.conf
 * and publishes packages it uploaded to the shared store; refusals come back as StagefarmErrors
 * with their codes; the coordinator's HTTP server serves the result.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { BinhostService, Coordinator, createMetrics, startHttpServer } from "../../coordinator/index.js";
import { busBinhostTransport, FarmBinhostClient } from "../../agent/index.js";
import type { BinhostPackage } from "../../agent/testing.js";
import { NatsBus } from "../../shared/bus/index.js";
import { parsePackages } from "../../shared/binhost/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { silentLogger } from "../../shared/log.js";
import { connectNats } from "../../shared/nats/index.js";
import { MemoryEventLog, MemoryJobQueue, MemoryKvStore } from "../../shared/ports/index.js";
import { binhostPublishReplySchema } from "../../shared/protocol/binhost.js";
import { decodeMessage } from "../../shared/protocol/messages.js";
import { subjects } from "../../shared/protocol/subjects.js";
import { BinhostBench } from "../helpers/binhost-harness.js";
import { emergeStage } from "../helpers/emerge-stage.js";
import { startNatsServer } from "../helpers/nats-server.js";

void describe("binhost publish over NATS", () => {
  void test("an agent publishes through the coordinator; errors keep their codes; the HTTP server serves the result", async () => {
    await using nats = await startNatsServer();
    await using bench = await BinhostBench.create();
    const logger = silentLogger();
    const subj = subjects(`t${randomUUID().slice(0, 8)}`);
    const ncCoordinator = await connectNats(nats.url, { name: "coordinator", logger });
    const ncAgent = await connectNats(nats.url, { name: "agent", logger });
    const coordinatorBus = new NatsBus(ncCoordinator, logger);
    const agentBus = new NatsBus(ncAgent, logger);
    const kv = new MemoryKvStore();
    const queue = new MemoryJobQueue({ ackWaitMs: 5000 });
    const events = new MemoryEventLog();
    const service = new BinhostService({ store: bench.fsStore, logger });
    const coordinator = new Coordinator({
      kv,
      queue,
      events,
      bus: coordinatorBus,
      store: bench.fsStore,
      subjects: subj,
      logger,
      leaseMs: 5000,
      leaseCheckMs: 1000,
      agentOfflineMs: 5000,
      maxDispatchPerRun: 10,
      stageJobs: 1,
      binhost: service,
    });
    await coordinator.start();
    const http = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      metrics: await createMetrics(),
      logger,
      accepting: () => true,
      binhost: { store: bench.fsStore },
    });
    try {
      const client = new FarmBinhostClient({
        transport: busBinhostTransport(agentBus, subj, { publishTimeoutMs: 60_000 }),
        baseUrl: http.url,
        agentId: "builder-7",
      });
      assert.equal(
        await client.binreposConf("amd64"),
        `[amd64]\npriority = 9999\nsync-uri = ${http.url}/binhost/amd64\nverify-signature = false\n`,
      );

      // The agent uploaded its packages to the shared store (the runner's collectBinpkgs did).
      const refs = [
        await bench.quick({ category: "dev-libs", pf: "libsigc++-3.6.0", buildId: 1 }),
        await bench.quick({ category: "sys-libs", pf: "zlib-1.3.1", buildId: 1 }),
      ];
      const packages: BinhostPackage[] = refs.map((r, i) => ({
        relpath:
          ["dev-libs/libsigc++/libsigc++-3.6.0-1.gpkg.tar", "sys-libs/zlib/zlib-1.3.1-1.gpkg.tar"][i] ?? "",
        file: r.file,
        digest: r.digest,
        size: r.size,
        stanza: "",
        fromIndex: false,
      }));
      const [first] = packages;
      assert.ok(first !== undefined);
      let log = "";
      const ctx = {
        stage: emergeStage({}, { pipeline: "bootstrap", name: "world" }),
        store: bench.fsStore,
        signal: new AbortController().signal,
        log: { write: (c: string | Uint8Array) => (log += String(c)) },
        logger,
      };
      await client.publish("amd64", packages, ctx);
      assert.match(
        log,
        /^binhost "amd64": published dev-libs\/libsigc\+\+\/libsigc\+\+-3\.6\.0-1\.gpkg\.tar as dev-libs\/libsigc\+\+\/libsigc\+\+-3\.6\.0-1\.gpkg\.tar$/m,
      );
      assert.match(
        log,
        /^binhost "amd64": 2 package\(s\) added, 0 already there; index TIMESTAMP \d+, 2 package\(s\)$/m,
      );
      // Publishing the same again (a retried request): duplicates, not errors.
      log = "";
      await client.publish("amd64", packages, ctx);
      assert.match(log, /is already published as sys-libs\/zlib\/zlib-1\.3\.1-1\.gpkg\.tar/);

      const index = parsePackages(await (await fetch(`${http.url}/binhost/amd64/Packages`)).text());
      assert.deepEqual(
        index.packages.map((p) => p.PATH),
        ["dev-libs/libsigc++/libsigc++-3.6.0-1.gpkg.tar", "sys-libs/zlib/zlib-1.3.1-1.gpkg.tar"],
      );
      const shown = await service.show("amd64");
      assert.deepEqual(
        shown.entries.map((e) => [e.record?.stage, e.record?.agent]),
        [
          ["bootstrap/world", "builder-7"],
          ["bootstrap/world", "builder-7"],
        ],
      );

      // A refused package: the agent gets the coordinator's error with its code.
      const bad = await bench.quick({ category: "app-misc", pf: "nocat-1", omitKeys: ["CATEGORY"] });
      await assert.rejects(
        client.publish(
          "amd64",
          [{ ...first, relpath: "x", file: bad.file, digest: bad.digest, size: bad.size }],
          ctx,
        ),
        (err: unknown) =>
          err instanceof StagefarmError &&
          err.code === "invalid_argument" &&
          /binhost "amd64": package sha256:[0-9a-f]{12} from stage bootstrap\/world refused: the metadata has no CATEGORY/.test(
            err.message,
          ),
      );
      await assert.rejects(
        client.publish("amd64", [{ ...first, digest: "f".repeat(64) }], ctx),
        (err: unknown) => err instanceof StagefarmError && err.code === "not_found",
      );
      // A profile header no portage writes (a key the writer owns, a line break) is refused over the bus.
      const hostile: Array<Record<string, string>> = [{ TIMESTAMP: "1" }, { IUSE_IMPLICIT: "a\nCPV: x/y-1" }];
      for (const profile of hostile)
        await assert.rejects(
          client.publish("amd64", packages, { ...ctx, profile }),
          (err: unknown) =>
            err instanceof StagefarmError &&
            err.code === "invalid_argument" &&
            /the publisher's profile header/.test(err.message),
        );
      // The profile keys an agent sends reach the index header over the bus.
      await client.publish("amd64", packages, { ...ctx, profile: { IUSE_IMPLICIT: "abi_x86_64 prefix" } });
      assert.equal(
        parsePackages(await (await fetch(`${http.url}/binhost/amd64/Packages`)).text()).header.IUSE_IMPLICIT,
        "abi_x86_64 prefix",
      );
      // A malformed request is answered, not dropped.
      const raw = await agentBus.request(subj.binhostPublish, new TextEncoder().encode('{"v":1}'), {
        timeoutMs: 5000,
      });
      const reply = decodeMessage(binhostPublishReplySchema, raw);
      assert.ok(reply.ok && !reply.value.ok && reply.value.error.code === "invalid_argument");
      assert.equal(
        parsePackages((await bench.indexText("amd64")) ?? "").packages.length,
        2,
        "index untouched",
      );
    } finally {
      await http.close();
      await coordinator.close();
      await service.close();
      await Promise.allSettled([
        coordinatorBus.close(),
        agentBus.close(),
        queue.close(),
        events.close(),
        kv.close(),
      ]);
      await Promise.allSettled([ncCoordinator.close(), ncAgent.close()]);
    }
  });
});
