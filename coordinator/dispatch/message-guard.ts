/**
 * Binds every message an agent sends to the identity in its subject (`<prefix>.hb.<agent>`,
 * shared/protocol/subjects.ts). With NATS permissions (deploy/nats/) an agent can publish only
 * on subjects carrying its own id, so the subject is the authenticated identity; a message whose
 * payload names another agent is rejected here, logged (one line an operator can act on, at
 * most one per agent and reason every 10 s) and counted in
 * `stagefarm_messages_rejected_total{reason}`:
 *
 *   malformed           not JSON, or not the protocol's shape
 *   no_identity         the subject carries no agent id
 *   identity_mismatch   the payload's agentId (or a binhost package's agent) is not the sender
 *   bad_ticket          a claim without the job's ticket (counted by the DispatchWorker)
 *
 * Binhost requests are bound by `binhostBus`: the responders behind it see only requests whose
 * packages name no other agent, with the sender filled in as each package's publisher.
 */
import type { MessageBus } from "../../shared/bus/index.js";
import type { Logger } from "../../shared/log.js";
import { encodeMessage } from "../../shared/protocol/messages.js";
import type { Subjects } from "../../shared/protocol/subjects.js";

export type RejectReason = "malformed" | "no_identity" | "identity_mismatch" | "bad_ticket";
export const REJECT_REASONS: readonly RejectReason[] = [
  "malformed",
  "no_identity",
  "identity_mismatch",
  "bad_ticket",
];

export type MessageKind = "claim" | "heartbeat" | "event" | "binhost publish" | "binhost conf";

export interface RejectMetrics {
  messageRejected?(reason: RejectReason): void;
}

const LOG_EVERY_MS = 10_000;

export class MessageGuard {
  private readonly log: Logger;
  /** Per agent and reason: when a rejection was last logged, and how many were not since. */
  private readonly logged = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly subjects: Subjects,
    logger: Logger,
    private readonly metrics?: RejectMetrics,
    private readonly now: () => number = Date.now,
  ) {
    this.log = logger.child({ component: "message-guard" });
  }

  /**
   * Whether the message `kind` received on `subject`, whose payload names `claimed`, comes from
   * that agent. Rejects it (logged, counted) otherwise.
   */
  bind(kind: MessageKind, subject: string, claimed: string): boolean {
    const sender = this.subjects.agentOf(subject);
    if (sender === undefined) {
      this.reject("no_identity", kind, subject, claimed, undefined);
      return false;
    }
    if (sender !== claimed) {
      this.reject("identity_mismatch", kind, subject, claimed, sender);
      return false;
    }
    return true;
  }

  /** Counts and logs a message that could not be decoded. */
  malformed(kind: MessageKind, subject: string, reason: string): void {
    this.count("malformed");
    this.maybeLog(`malformed:${subject}`, () =>
      this.log.warn(
        { kind, subject, sender: this.subjects.agentOf(subject), reason },
        `rejected a malformed ${kind} on ${subject}: is that agent running another stagefarm version?`,
      ),
    );
  }

  /** Counts a rejection made elsewhere (the DispatchWorker's ticket check). */
  count(reason: RejectReason): void {
    this.metrics?.messageRejected?.(reason);
  }

  /**
   * `bus` for the binhost responders: requests on a subject without an agent id, or naming
   * another agent as a package's publisher, are answered with an error before they reach them.
   */
  binhostBus(bus: MessageBus): MessageBus {
    return {
      publish: (subject, data) => bus.publish(subject, data),
      subscribe: (subject, handler) => bus.subscribe(subject, handler),
      request: (subject, data, opts) => bus.request(subject, data, opts),
      serve: (pattern, responder) =>
        bus.serve(pattern, async (data, subject) => {
          const bound = this.bindBinhost(subject, data);
          if (bound.ok) return responder(bound.data, subject);
          return encodeMessage({
            ok: false,
            error: { code: "invalid_argument", message: bound.message, details: {} },
          });
        }),
      flush: () => bus.flush(),
      close: () => Promise.resolve(), // the bus stays its owner's
    };
  }

  private bindBinhost(
    subject: string,
    data: Uint8Array,
  ): { ok: true; data: Uint8Array } | { ok: false; message: string } {
    const kind: MessageKind = subject.split(".")[2] === "conf" ? "binhost conf" : "binhost publish";
    const sender = this.subjects.agentOf(subject);
    if (sender === undefined) {
      this.reject("no_identity", kind, subject, undefined, undefined);
      return { ok: false, message: `${kind} request on ${subject} refused: the subject carries no agent id` };
    }
    if (kind === "binhost conf") return { ok: true, data };
    let raw: unknown;
    try {
      raw = JSON.parse(new TextDecoder().decode(data));
    } catch {
      return { ok: true, data }; // malformed: the responder answers it
    }
    if (!isRecord(raw) || !Array.isArray(raw["packages"])) return { ok: true, data };
    const packages: unknown[] = raw["packages"];
    for (const p of packages) {
      if (!isRecord(p)) continue;
      // Not validated yet: bounded before it reaches a log line.
      const claimed =
        typeof p["agent"] === "string" ? p["agent"].slice(0, 64) : p["agent"] === undefined ? undefined : "?";
      if (claimed !== undefined && claimed !== sender) {
        this.reject("identity_mismatch", kind, subject, claimed, sender);
        return {
          ok: false,
          message: `${kind} request refused: it names agent ${claimed} as a publisher but was sent by ${sender}`,
        };
      }
      p["agent"] = sender;
    }
    return { ok: true, data: encodeMessage(raw) };
  }

  private reject(
    reason: RejectReason,
    kind: MessageKind,
    subject: string,
    claimed: string | undefined,
    sender: string | undefined,
  ): void {
    this.count(reason);
    this.maybeLog(`${reason}:${sender ?? subject}`, (suppressed) =>
      this.log.warn(
        { reason, kind, subject, sender, claimed, ...(suppressed > 0 ? { suppressed } : {}) },
        reason === "no_identity"
          ? `rejected a ${kind} on ${subject}: the subject carries no agent id (a client outside the protocol; check the NATS permissions of the farm's users)`
          : `rejected a ${kind} from agent ${sender ?? "?"} naming agent ${claimed ?? "?"}: an agent may only speak for itself; check that agent's --id matches its NATS user, and revoke its credentials if it was not misconfigured`,
      ),
    );
  }

  private maybeLog(key: string, write: (suppressed: number) => void): void {
    const now = this.now();
    const last = this.logged.get(key);
    if (last !== undefined && now - last.at < LOG_EVERY_MS) {
      last.suppressed += 1;
      return;
    }
    if (this.logged.size > 1000) this.logged.clear(); // bounded: agents, reasons
    write(last?.suppressed ?? 0);
    this.logged.set(key, { at: now, suppressed: 0 });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
