/** The in-process ports (KV, job queue, event log) against their conformance suites. */
import { MemoryEventLog, MemoryJobQueue, MemoryKvStore } from "../../shared/ports/index.js";
import { eventLogConformance } from "../conformance/event-log.js";
import { jobQueueConformance } from "../conformance/job-queue.js";
import { kvConformance } from "../conformance/kv.js";

kvConformance("memory", () => {
  const store = new MemoryKvStore();
  return Promise.resolve({ store, [Symbol.asyncDispose]: () => store.close() });
});

/** In-process redelivery needs no pull round trips: short waits keep the suite fast. */
const timing = { ackWaitMs: 300, quietMs: 300 };

jobQueueConformance(
  "memory",
  ({ ackWaitMs }) => {
    const queue = new MemoryJobQueue({ ackWaitMs });
    return Promise.resolve({ queue, [Symbol.asyncDispose]: () => queue.close() });
  },
  timing,
);

eventLogConformance(
  "memory",
  ({ ackWaitMs }) => {
    const log = new MemoryEventLog({ ackWaitMs });
    return Promise.resolve({
      log,
      reopen: () => Promise.resolve(log),
      [Symbol.asyncDispose]: () => log.close(),
    });
  },
  timing,
);
