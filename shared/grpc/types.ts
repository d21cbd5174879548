/**
 * Types of the gRPC adapter, derived from protobuf-es v2 service descriptors so a generated
 * service's request and response types flow through to handlers and clients.
 *
 * Glossary
 * - service: a `DescService` from `proto/gen/` (e.g. `StagefarmService`); `service.method.<localName>`
 *   describes each RPC.
 * - impl: an object with one async function per RPC, named by the RPC's local name (`submitRun`).
 *   Unary: `(req, ctx) => Promise<res>`; server streaming: `(req, ctx) => AsyncIterable<res>`.
 *   Client and bidi streaming are not supported (the API has none): their slots are `never`.
 * - ctx: what a handler knows about its call, including an AbortSignal that fires when the
 *   client cancels, the deadline passes, the server shuts down (streams) or the call ends.
 */
import type {
  DescMessage,
  DescMethod,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import type { Metadata } from "@grpc/grpc-js";
import type { Principal } from "./auth.js";

export interface HandlerContext {
  /** Aborted when the client cancels, the deadline passes, the server shuts down or the call ends. */
  readonly signal: AbortSignal;
  /** The request metadata (headers) the client sent. */
  readonly metadata: Metadata;
  /** The client's address, e.g. `ipv4:127.0.0.1:53422`. */
  readonly peer: string;
  /** The RPC being served. */
  readonly method: DescMethod;
  /** Who called, as the server's authorizer accepted them (absent on a server without one). */
  readonly principal: Principal | undefined;
}

export type UnaryImpl<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: HandlerContext,
) => Promise<MessageInitShape<O>>;

export type ServerStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: HandlerContext,
) => AsyncIterable<MessageInitShape<O>>;

/** The handler type for one RPC descriptor. */
export type MethodImpl<M extends DescMethod> =
  M extends DescMethodUnary<infer I, infer O>
    ? UnaryImpl<I, O>
    : M extends DescMethodServerStreaming<infer I, infer O>
      ? ServerStreamingImpl<I, O>
      : never;

/** A complete implementation of a service: one handler per RPC, keyed by local name. */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S["method"]]: MethodImpl<S["method"][K]>;
};

/** Per-call options of a client method. */
export interface CallOptions {
  /** Cancels the call (the server's `ctx.signal` fires). */
  signal?: AbortSignal;
  /** Fails the call with `timeout` when no answer (or, for a stream, no end) came in time. */
  deadlineMs?: number;
  /** Extra request metadata, merged over the client's default metadata. */
  metadata?: Metadata;
}

export type UnaryClientMethod<I extends DescMessage, O extends DescMessage> = (
  req: MessageInitShape<I>,
  opts?: CallOptions,
) => Promise<MessageShape<O>>;

/** Starts the call when iteration starts; breaking out of the loop cancels it. */
export type ServerStreamingClientMethod<I extends DescMessage, O extends DescMessage> = (
  req: MessageInitShape<I>,
  opts?: CallOptions,
) => AsyncIterable<MessageShape<O>>;

export type ClientMethod<M extends DescMethod> =
  M extends DescMethodUnary<infer I, infer O>
    ? UnaryClientMethod<I, O>
    : M extends DescMethodServerStreaming<infer I, infer O>
      ? ServerStreamingClientMethod<I, O>
      : never;

/** A typed client: one method per RPC, keyed by local name, plus `close()`. */
export type GrpcClient<S extends DescService> = {
  [K in keyof S["method"]]: ClientMethod<S["method"][K]>;
} & {
  /** Closes the channel; calls in flight fail with `unavailable`. Idempotent. */
  close(): void;
  [Symbol.dispose](): void;
};
