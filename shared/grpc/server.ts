/**
 * A grpc-js server serving protobuf-es services implemented as async functions (see types.ts).
 * RPCs the implementation leaves out are answered UNIMPLEMENTED by grpc-js; client and bidi
 * streaming RPCs are not supported and are left out the same way. Every call passes one
 * interceptor (auth-interceptor.ts) that asks the `authorizer`, when there is one, before the
 * handler runs; adding a service the authorizer has no rule for fails.
 *
 *   const server = createGrpcServer(StagefarmService, impl, { logger, authorizer });
 *   const listener = await listen(server, "127.0.0.1:0", ServerCredentials.createInsecure());
 *   …
 *   await listener.close(5000);
 */
import type { DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import { Server, type Metadata, type ServerOptions } from "@grpc/grpc-js";
import { StagefarmError } from "../errors.js";
import type { Logger } from "../log.js";
import type { CallAuthorizer, Principal } from "./auth.js";
import { authInterceptor } from "./auth-interceptor.js";
import { methodPath, requestDeserializer, serializer } from "./service-definition.js";
import {
  serverStreamingHandler,
  unaryHandler,
  type CallTracker,
  type TrackedCall,
} from "./server-handlers.js";
import type { ServerStreamingImpl, ServiceImpl, UnaryImpl } from "./types.js";

export interface GrpcServerOptions {
  logger: Logger;
  /** Largest request accepted, in bytes (default 4 MiB, grpc-js's default). */
  maxReceiveMessageLength?: number;
  /** How often the server pings an idle connection to find clients that are gone (default 2 min:
   *  a watch may stay open for hours). */
  keepaliveTimeMs?: number;
  /** Decides who may call what; absent, every call is served (loopback, zero-config). */
  authorizer?: CallAuthorizer;
}

export class GrpcServer implements CallTracker {
  /** The grpc-js server, e.g. to add grpc-js services such as health checking. */
  readonly raw: Server;
  readonly log: Logger;
  private readonly calls = new Set<TrackedCall>();
  private readonly methods = new Map<string, DescMethod>();
  private readonly principals = new WeakMap<Metadata, Principal>();
  private readonly authorizer: CallAuthorizer | undefined;
  private shuttingDown = false;

  constructor(opts: GrpcServerOptions) {
    this.log = opts.logger.child({ component: "grpc-server" });
    this.authorizer = opts.authorizer;
    const options: ServerOptions = {
      "grpc.max_receive_message_length": opts.maxReceiveMessageLength ?? 4 * 1024 * 1024,
      "grpc.keepalive_time_ms": opts.keepaliveTimeMs ?? 120_000,
      "grpc.keepalive_timeout_ms": 20_000,
      interceptors: [
        authInterceptor({
          methods: this.methods,
          authorizer: opts.authorizer,
          principals: this.principals,
          log: this.log,
        }),
      ],
    };
    this.raw = new Server(options);
  }

  principalOf(metadata: Metadata): Principal | undefined {
    return this.principals.get(metadata);
  }

  get closing(): boolean {
    return this.shuttingDown;
  }

  /** Serves `service` with the functions of `impl` (by RPC local name). */
  addService<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): void {
    this.authorizer?.checkCovers(service);
    for (const method of service.methods) {
      const fn: unknown = Reflect.get(impl, method.localName);
      if (fn === undefined) continue;
      if (typeof fn !== "function")
        throw new StagefarmError(
          "invalid_argument",
          `the implementation of ${service.typeName}.${method.name} is not a function`,
        );
      const path = methodPath(method);
      const serialize = serializer(method.output);
      const deserialize = requestDeserializer(method.input);
      let ok: boolean;
      if (method.methodKind === "unary") {
        const handler = unaryHandler(method, fn as UnaryImpl<DescMessage, DescMessage>, this, this.log);
        ok = this.raw.register(path, handler, serialize, deserialize, "unary");
      } else if (method.methodKind === "server_streaming") {
        const streaming = fn as ServerStreamingImpl<DescMessage, DescMessage>;
        const handler = serverStreamingHandler(method, streaming, this, this.log);
        ok = this.raw.register(path, handler, serialize, deserialize, "serverStream");
      } else {
        throw new StagefarmError(
          "invalid_argument",
          `${service.typeName}.${method.name} is ${method.methodKind.replace("_", " ")}, which this server does not support`,
        );
      }
      if (!ok) throw new StagefarmError("invalid_argument", `${path} is already served`);
      this.methods.set(path, method);
    }
  }

  add(call: TrackedCall): void {
    this.calls.add(call);
  }

  delete(call: TrackedCall): void {
    this.calls.delete(call);
  }

  /**
   * Ends every open stream with `unavailable` ("the server is shutting down", so clients
   * reconnect elsewhere or later) and refuses new ones. Unary calls are left to finish.
   */
  endStreams(): void {
    this.shuttingDown = true;
    const reason = new StagefarmError("unavailable", "the server is shutting down");
    for (const call of [...this.calls]) if (call.streaming) call.end(reason);
  }

  /** Answers every call still in flight with `unavailable` (the end of the shutdown grace). */
  endAll(): void {
    this.shuttingDown = true;
    const reason = new StagefarmError("unavailable", "the server shut down before answering");
    for (const call of [...this.calls]) call.end(reason);
  }
}

/** A server serving one service; add more with `addService`. Call `listen` to bind it. */
export function createGrpcServer<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
  opts: GrpcServerOptions,
): GrpcServer {
  const server = new GrpcServer(opts);
  server.addService(service, impl);
  return server;
}
