/**
 * The agent's side of the farm binhost: the emerge runner's `BinhostClient`
 * (./runners/binpkgs/binhost-seam.ts) over a transport to the binhost's single writer.
 *
 * - `binreposConf(name)` asks the writer for the stanza (it knows the binhost's settings:
 *   priority, verify-signature, location), with `sync-uri = <base URL>/binhost/<name>`, the
 *   base URL being where this host reaches the coordinator's HTTP server.
 * - `publish(name, packages, ctx)` sends the digests of the package files, which the runner
 *   has already stored in the (shared) artifact store, with the stage and agent that built
 *   them, at most 500 per request; the writer reads them from the store. Each package's
 *   outcome is one log line.
 *
 * Transports: `busBinhostTransport` (distributed: request/reply on `<prefix>.binhost.*`,
 * shared/protocol/binhost.ts); the embedded farm passes one that calls the service directly.
 */
import type { z } from "zod";
import type { MessageBus } from "../shared/bus/index.js";
import { isErrorCode, StagefarmError } from "../shared/errors.js";
import {
  binhostConfReplySchema,
  binhostPublishReplySchema,
  type BinhostPublishRequest,
  type PublishResult,
} from "../shared/protocol/binhost.js";
import { decodeMessage, encodeMessage } from "../shared/protocol/messages.js";
import type { Subjects } from "../shared/protocol/subjects.js";
import type { BinhostClient, BinhostPackage, BinhostPublishContext } from "./runners/index.js";

/** Packages per publish request (a request of 500 is about 100 KiB of JSON). */
const MAX_PER_REQUEST = 500;

export interface BinhostTransport {
  publish(req: BinhostPublishRequest, signal?: AbortSignal): Promise<PublishResult>;
  conf(name: string, baseUrl: string, signal?: AbortSignal): Promise<string>;
}

export interface BusBinhostTransportOptions {
  /** How long a publication may take before the agent gives up waiting (default 10 min). */
  publishTimeoutMs?: number;
  /** Default 30 s. */
  confTimeoutMs?: number;
}

function remoteError(e: { code: string; message: string; details: Record<string, unknown> }): StagefarmError {
  return new StagefarmError(isErrorCode(e.code) ? e.code : "internal", e.message, { details: e.details });
}

function decodeReply<T>(schema: z.ZodType<T>, data: Uint8Array, subject: string): T {
  const r = decodeMessage(schema, data);
  if (!r.ok) throw new StagefarmError("unavailable", `malformed reply on ${subject}: ${r.reason}`);
  return r.value;
}

/** Requests to the coordinator over the message bus (NATS in a farm). */
export function busBinhostTransport(
  bus: MessageBus,
  subjects: Subjects,
  opts: BusBinhostTransportOptions = {},
): BinhostTransport {
  return {
    async publish(req, signal) {
      const data = await bus.request(subjects.binhostPublish, encodeMessage(req), {
        timeoutMs: opts.publishTimeoutMs ?? 600_000,
        ...(signal === undefined ? {} : { signal }),
      });
      const reply = decodeReply(binhostPublishReplySchema, data, subjects.binhostPublish);
      if (!reply.ok) throw remoteError(reply.error);
      return reply.result;
    },
    async conf(name, baseUrl, signal) {
      const data = await bus.request(subjects.binhostConf, encodeMessage({ v: 1, binhost: name, baseUrl }), {
        timeoutMs: opts.confTimeoutMs ?? 30_000,
        ...(signal === undefined ? {} : { signal }),
      });
      const reply = decodeReply(binhostConfReplySchema, data, subjects.binhostConf);
      if (!reply.ok) throw remoteError(reply.error);
      return reply.conf;
    },
  };
}

export interface FarmBinhostClientOptions {
  transport: BinhostTransport;
  /** Where this host reaches the coordinator's HTTP server (resolved when first needed). */
  baseUrl: string | (() => Promise<string>);
  /** Recorded as the publisher of each package. */
  agentId?: string;
}

export class FarmBinhostClient implements BinhostClient {
  constructor(private readonly o: FarmBinhostClientOptions) {}

  async binreposConf(name: string): Promise<string> {
    const base = typeof this.o.baseUrl === "string" ? this.o.baseUrl : await this.o.baseUrl();
    return this.o.transport.conf(name, base);
  }

  async publish(
    name: string,
    packages: readonly BinhostPackage[],
    ctx: BinhostPublishContext,
  ): Promise<void> {
    if (packages.length === 0) return;
    const stage = `${ctx.stage.pipeline}/${ctx.stage.name}`;
    const refs = packages.map((p) => ({
      digest: p.digest,
      size: p.size,
      stage,
      ...(this.o.agentId === undefined ? {} : { agent: this.o.agentId }),
    }));
    // Requests stay well under NATS's 1 MiB payload limit; each one is all or nothing.
    const results: PublishResult[] = [];
    for (let i = 0; i < refs.length; i += MAX_PER_REQUEST)
      results.push(
        await this.o.transport.publish(
          {
            v: 1,
            binhost: name,
            packages: refs.slice(i, i + MAX_PER_REQUEST),
            ...(ctx.profile === undefined ? {} : { profile: ctx.profile }),
          },
          ctx.signal,
        ),
      );
    const last = results[results.length - 1];
    const result = {
      timestamp: last?.timestamp ?? 0,
      total: last?.total ?? 0,
      packages: results.flatMap((r) => r.packages),
    };
    const line = (s: string): void => ctx.log.write(`${s}\n`);
    const local = new Map(packages.map((p) => [p.digest, p.relpath]));
    for (const p of result.packages) {
      const from = local.get(p.digest) ?? p.digest.slice(0, 12);
      if (p.duplicate) line(`binhost "${name}": ${from} is already published as ${p.path}`);
      else if (p.renumberedFrom !== undefined)
        line(
          `binhost "${name}": published ${from} as ${p.path} (BUILD_ID ${p.buildId}; ${p.renumberedFrom === 0 ? "it had none" : `its own ${p.renumberedFrom} was taken`})`,
        );
      else line(`binhost "${name}": published ${from} as ${p.path}`);
    }
    const added = result.packages.filter((p) => !p.duplicate).length;
    line(
      `binhost "${name}": ${added} package(s) added, ${result.packages.length - added} already there; index TIMESTAMP ${result.timestamp}, ${result.total} package(s)`,
    );
    ctx.logger.info(
      { binhost: name, added, total: result.total, timestamp: result.timestamp },
      "published to binhost",
    );
  }
}
