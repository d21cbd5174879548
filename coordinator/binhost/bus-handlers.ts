/**
 * The coordinator's side of the binhost protocol (shared/protocol/binhost.ts): answers
 * `<prefix>.binhost.publish` and `<prefix>.binhost.conf` requests with the BinhostService.
 * Every request gets a reply: the result, or the error (code, message, details) the agent
 * turns back into a StagefarmError; a malformed request is answered `invalid_argument`.
 */
import type { MessageBus, Subscription } from "../../shared/bus/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import {
  binhostConfRequestSchema,
  binhostPublishRequestSchema,
  type BinhostConfReply,
  type BinhostPublishReply,
} from "../../shared/protocol/binhost.js";
import { decodeMessage, encodeMessage } from "../../shared/protocol/messages.js";
import type { Subjects } from "../../shared/protocol/subjects.js";
import type { BinhostService } from "./binhost-service.js";

function errorOf(err: unknown): { code: string; message: string; details: Record<string, unknown> } {
  const e = StagefarmError.from(err);
  return { code: e.code, message: e.message, details: { ...e.details } };
}

export function serveBinhostRequests(
  bus: MessageBus,
  subjects: Subjects,
  service: BinhostService,
  log: Logger,
): Subscription[] {
  return [
    bus.serve(subjects.binhostPublish, async (data) => {
      const req = decodeMessage(binhostPublishRequestSchema, data);
      let reply: BinhostPublishReply;
      if (!req.ok)
        reply = {
          ok: false,
          error: {
            code: "invalid_argument",
            message: `malformed binhost publish request: ${req.reason}`,
            details: {},
          },
        };
      else
        try {
          reply = {
            ok: true,
            result: await service.publish(
              req.value.binhost,
              req.value.packages,
              req.value.profile === undefined ? {} : { profile: req.value.profile },
            ),
          };
        } catch (err: unknown) {
          reply = { ok: false, error: errorOf(err) };
          log.warn({ binhost: req.value.binhost, err }, "binhost publish refused");
        }
      return encodeMessage(reply);
    }),
    bus.serve(subjects.binhostConf, async (data) => {
      const req = decodeMessage(binhostConfRequestSchema, data);
      let reply: BinhostConfReply;
      if (!req.ok)
        reply = {
          ok: false,
          error: {
            code: "invalid_argument",
            message: `malformed binhost conf request: ${req.reason}`,
            details: {},
          },
        };
      else
        try {
          reply = { ok: true, conf: await service.binreposConf(req.value.binhost, req.value.baseUrl) };
        } catch (err: unknown) {
          reply = { ok: false, error: errorOf(err) };
        }
      return encodeMessage(reply);
    }),
  ];
}
