/**
 * The dashboard's server-sent event streams: a run's (`/runs/ID/events`: the whole run, then its
 * `stage` and `run` events) and the global one (`/events`: `hello`, `agents`, run summaries).
 * Both resume after a Last-Event-ID the hub still holds (./event-hub.ts); a run stream that
 * cannot resume starts again from the whole run.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { create, toJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { RunEventSchema } from "../../proto/gen/stagefarm/v1/run_pb.js";
import type { EventHub, HubEvent } from "./event-hub.js";
import type { RunTracker } from "./run-tracker.js";
import { SseStream } from "./sse.js";

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, p: string[]) => Promise<void> | void;

export interface EventStreamDeps {
  hub: EventHub;
  tracker: RunTracker;
  /** The open global streams (they also get `agents` when the fleet changes). */
  globals: Set<SseStream>;
  agentsMessage: () => JsonValue;
}

export function eventStreams(deps: EventStreamDeps): { runEvents: Handler; globalEvents: Handler } {
  const { hub, tracker, globals, agentsMessage } = deps;
  const sendHub = (sse: SseStream, e: HubEvent): void => void sse.send(e.name, e.data, hub.id(e.seq));

  /** Live events after `after` that `filter` takes, without losing any published meanwhile. */
  const follow = (sse: SseStream, after: number, filter: (e: HubEvent) => boolean): void => {
    let last = after;
    const off = hub.subscribe((e) => {
      if (filter(e) && e.seq > last) {
        last = e.seq;
        sendHub(sse, e);
      }
    });
    sse.signal.addEventListener("abort", off, { once: true });
    for (const e of hub.after(after, filter))
      if (e.seq > last) {
        last = e.seq;
        sendHub(sse, e);
      }
  };

  const runEvents: Handler = async (req, res, url, [id = ""]) => {
    const filter = (e: HubEvent): boolean => e.scope === "run" && e.runId === id;
    const from = hub.resumeFrom(SseStream.lastEventId(req, url));
    if (from !== undefined) {
      // Resuming still needs the run: a 404 before the stream opens, never an empty stream.
      await tracker.run(id);
      follow(new SseStream(req, res), from, filter);
      return;
    }
    // Not resumable: the whole run first (a 404 before the stream opens when there is none).
    const { run, seq } = await tracker.run(id);
    const sse = new SseStream(req, res);
    const event = create(RunEventSchema, {
      runId: id,
      at: timestampNow(),
      event: { case: "run", value: run },
    });
    sse.send("run", toJson(RunEventSchema, event), hub.id(seq));
    follow(sse, seq, filter);
  };

  const globalEvents: Handler = (req, res, url) => {
    const from = hub.resumeFrom(SseStream.lastEventId(req, url));
    const sse = new SseStream(req, res);
    const at = hub.current;
    sse.send("hello", { resumed: from !== undefined }, from === undefined ? hub.id(at) : undefined);
    sse.send("agents", agentsMessage());
    globals.add(sse);
    sse.signal.addEventListener("abort", () => globals.delete(sse), { once: true });
    follow(sse, from ?? at, (e) => e.scope === "global");
  };

  return { runEvents, globalEvents };
}
