/**
 * A typed grpc-js client for a protobuf-es service: unary RPCs return promises, server-streaming
 * RPCs return async iterables (the call starts when iteration starts; breaking out of the loop or
 * aborting the signal cancels it). Every failure is a StagefarmError: the server's code, message
 * and details when it sent them (see status.ts), else the code mapped from the gRPC status.
 *
 *   const client = createGrpcClient(StagefarmService, "127.0.0.1:7070", credentials.createInsecure());
 *   const { run } = await client.getRun({ runId }, { deadlineMs: 5000 });
 *   for await (const { event } of client.watchRun({ runId })) …
 *   client.close();
 */
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  type Message,
} from "@bufbuild/protobuf";
import {
  Client,
  Metadata,
  status as Status,
  type CallOptions as GrpcCallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ServiceError,
} from "@grpc/grpc-js";
import { StagefarmError } from "../errors.js";
import { fromGrpcStatus } from "./status.js";
import { readErrorCode } from "./trailers.js";
import { deserializer, methodPath, serializer } from "./service-definition.js";
import type { CallOptions, GrpcClient, ServerStreamingClientMethod, UnaryClientMethod } from "./types.js";

export interface GrpcClientOptions {
  /** Sent with every call (e.g. an auth token); a call's own metadata is merged over it. */
  metadata?: Metadata;
  /** Largest response accepted, in bytes (default 4 MiB, grpc-js's default). */
  maxReceiveMessageLength?: number;
  /** Further grpc-js channel options. */
  channelOptions?: ChannelOptions;
}

interface Caller {
  client: Client;
  /** `stagefarm.v1.StagefarmService/GetRun at host:port`, added to errors grpc-js made itself. */
  where: (method: DescMethod) => string;
  metadata: Metadata;
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number";
}

function cancelledError(method: DescMethod, signal: AbortSignal): StagefarmError {
  return new StagefarmError("cancelled", `${method.name} was cancelled`, { cause: signal.reason });
}

function callMetadata(base: Metadata, extra: Metadata | undefined): Metadata {
  const md = base.clone();
  if (extra !== undefined) md.merge(extra);
  return md;
}

function grpcOptions(opts: CallOptions): GrpcCallOptions {
  return opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs };
}

function toError(
  err: unknown,
  method: DescMethod,
  c: Caller,
  signal: AbortSignal | undefined,
): StagefarmError {
  if (signal?.aborted === true) return cancelledError(method, signal);
  if (!isServiceError(err)) return StagefarmError.from(err, "unavailable");
  // A cancel this side did not ask for: the server or the connection cut the call (a forced
  // shutdown, a proxy). That is a transient failure, not the user's Ctrl-C.
  if (err.code === Status.CANCELLED && readErrorCode(err.metadata) === undefined)
    return new StagefarmError("unavailable", `the call was cut off: ${err.details} (${c.where(method)})`, {
      details: { grpcStatus: Status[Status.CANCELLED] },
    });
  if (err.code === Status.RESOURCE_EXHAUSTED && /larger than max/i.test(err.details))
    return new StagefarmError(
      "invalid_argument",
      `the request is larger than the server accepts: ${err.details} (${c.where(method)})`,
      { details: { grpcStatus: Status[Status.RESOURCE_EXHAUSTED] } },
    );
  return fromGrpcStatus(err, c.where(method));
}

function unaryCaller(c: Caller, method: DescMethod): UnaryClientMethod<DescMessage, DescMessage> {
  const path = methodPath(method);
  const serialize = serializer(method.input);
  const deserialize = deserializer(method.output);
  return (req, opts = {}) =>
    new Promise<Message>((resolve, reject) => {
      const signal = opts.signal;
      if (signal?.aborted === true) {
        reject(cancelledError(method, signal));
        return;
      }
      const onAbort = (): void => call.cancel();
      const md = callMetadata(c.metadata, opts.metadata);
      const call = c.client.makeUnaryRequest(
        path,
        serialize,
        deserialize,
        create(method.input, req),
        md,
        grpcOptions(opts),
        (err, res) => {
          signal?.removeEventListener("abort", onAbort);
          if (err !== null) reject(toError(err, method, c, signal));
          else if (res === undefined)
            reject(new StagefarmError("internal", `no response to ${method.name} (${c.where(method)})`));
          else resolve(res);
        },
      );
      signal?.addEventListener("abort", onAbort, { once: true });
    });
}

async function* streamCall(
  c: Caller,
  method: DescMethod,
  req: Message,
  opts: CallOptions,
): AsyncGenerator<Message, void, undefined> {
  const signal = opts.signal;
  if (signal?.aborted === true) throw cancelledError(method, signal);
  const call = c.client.makeServerStreamRequest(
    methodPath(method),
    serializer(method.input),
    deserializer(method.output),
    req,
    callMetadata(c.metadata, opts.metadata),
    grpcOptions(opts),
  );
  // grpc-js reports the final status as an 'error' event even after the loop below has stopped
  // reading (a cancel after `break`); this listener keeps that from being an uncaught exception.
  // While the loop runs, the same error reaches it through the stream's iterator.
  call.on("error", () => undefined);
  const onAbort = (): void => call.cancel();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const msg of call as AsyncIterable<Message>) yield msg;
  } catch (err: unknown) {
    throw toError(err, method, c, signal);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    // Ends the call if the consumer stopped early; does nothing once the server has ended it.
    call.cancel();
  }
}

function streamCaller(c: Caller, method: DescMethod): ServerStreamingClientMethod<DescMessage, DescMessage> {
  return (req, opts = {}) => streamCall(c, method, create(method.input, req), opts);
}

/** A client of `service` at `address` (`host:port`). */
export function createGrpcClient<S extends DescService>(
  service: S,
  address: string,
  credentials: ChannelCredentials,
  opts: GrpcClientOptions = {},
): GrpcClient<S> {
  const client = new Client(address, credentials, {
    "grpc.max_receive_message_length": opts.maxReceiveMessageLength ?? 4 * 1024 * 1024,
    ...opts.channelOptions,
  });
  const caller: Caller = {
    client,
    where: (method) => `${service.typeName}/${method.name} at ${address}`,
    metadata: opts.metadata ?? new Metadata(),
  };
  const methods: Record<string, unknown> = {};
  for (const method of service.methods) {
    if (method.localName === "close")
      throw new StagefarmError(
        "invalid_argument",
        `${service.typeName} has an RPC named close, which the client reserves`,
      );
    if (method.methodKind === "unary") methods[method.localName] = unaryCaller(caller, method);
    else if (method.methodKind === "server_streaming")
      methods[method.localName] = streamCaller(caller, method);
    // Client and bidi streaming RPCs are not supported; their type is `never`.
  }
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    client.close();
  };
  return Object.assign(methods, { close, [Symbol.dispose]: close }) as GrpcClient<S>;
}
