/**
 * grpc-js call handlers wrapping async handler functions. Each call gets a context whose signal
 * aborts when the client cancels, the deadline passes, the server shuts down (streams) or the
 * call ends. Whatever a handler throws is converted once, by `toGrpcStatus`.
 *
 * Server streaming pulls one message at a time from the handler's iterable and waits for the
 * socket to drain when grpc-js's buffer is full (backpressure); when the signal aborts it stops
 * pulling at once (it does not wait for a handler blocked inside) and asks the iterator to return.
 */
import {
  create,
  type DescMessage,
  type DescMethod,
  type Message,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import type {
  handleServerStreamingCall,
  handleUnaryCall,
  Metadata,
  ServerUnaryCall,
  ServerWritableStream,
} from "@grpc/grpc-js";
import { StagefarmError } from "../errors.js";
import { excerpt } from "../util/excerpt.js";
import type { Logger } from "../log.js";
import { drained, untilAborted } from "./abort.js";
import type { Principal } from "./auth.js";
import { malformedReason } from "./service-definition.js";
import { toGrpcStatus } from "./status.js";
import type { HandlerContext, ServerStreamingImpl, UnaryImpl } from "./types.js";

type AnyUnaryImpl = UnaryImpl<DescMessage, DescMessage>;
type AnyStreamingImpl = ServerStreamingImpl<DescMessage, DescMessage>;

/** A call in flight, as the server sees it when shutting down. */
export interface TrackedCall {
  readonly streaming: boolean;
  /** Ends the call now with `reason` as its status and aborts its handler's signal. */
  end(reason: StagefarmError): void;
}

/** Tracks calls so the server can end them when it shuts down. */
export interface CallTracker {
  /** True once the server is shutting down: new streams are refused with `unavailable`. */
  readonly closing: boolean;
  add(call: TrackedCall): void;
  delete(call: TrackedCall): void;
  /** The caller the auth interceptor accepted for the call with this metadata. */
  principalOf(metadata: Metadata): Principal | undefined;
}

interface CallScope {
  ctx: HandlerContext;
  /** Aborts the signal with `reason` unless it already aborted. */
  abort(reason: StagefarmError): void;
  /** Aborts the signal (if nothing else did) and releases timers and listeners. */
  finish(): void;
}

function deadlineMs(
  call: ServerUnaryCall<Message, Message> | ServerWritableStream<Message, Message>,
): number {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : d;
}

function openScope(
  call: ServerUnaryCall<Message, Message> | ServerWritableStream<Message, Message>,
  method: DescMethod,
  tracker: CallTracker,
): CallScope {
  const controller = new AbortController();
  const abort = (reason: StagefarmError): void => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  const onCancelled = (): void =>
    abort(new StagefarmError("cancelled", `the client cancelled ${method.name}`));
  call.once("cancelled", onCancelled);
  let timer: NodeJS.Timeout | undefined;
  const deadline = deadlineMs(call);
  if (Number.isFinite(deadline)) {
    const fire = (): void => abort(new StagefarmError("timeout", `the deadline of ${method.name} passed`));
    timer = setTimeout(fire, Math.max(0, deadline - Date.now()));
  }
  return {
    ctx: {
      signal: controller.signal,
      metadata: call.metadata,
      peer: call.getPeer(),
      method,
      principal: tracker.principalOf(call.metadata),
    },
    abort,
    finish: () => {
      if (timer !== undefined) clearTimeout(timer);
      call.off("cancelled", onCancelled);
      abort(new StagefarmError("cancelled", `${method.name} ended`));
    },
  };
}

/** INVALID_ARGUMENT for a request that did not decode (./service-definition.ts), else undefined. */
function malformedError(request: Message, method: DescMethod): StagefarmError | undefined {
  const reason = malformedReason(request);
  return reason === undefined
    ? undefined
    : new StagefarmError(
        "invalid_argument",
        `the request is not a valid ${method.input.typeName} message (${excerpt(reason, 80)})`,
      );
}

function statusFor(err: unknown, method: DescMethod, log: Logger): ReturnType<typeof toGrpcStatus> {
  return toGrpcStatus(err, {
    onInternal: (ref, cause) =>
      log.error({ err: cause, method: method.name, ref }, "internal error in a handler"),
  });
}

export function unaryHandler(
  method: DescMethod,
  impl: AnyUnaryImpl,
  tracker: CallTracker,
  log: Logger,
): handleUnaryCall<Message, Message> {
  return (call, callback) => {
    const scope = openScope(call, method, tracker);
    let answered = false;
    const fail = (err: unknown): void => {
      if (answered) return;
      answered = true;
      const status = statusFor(err, method, log);
      log.debug({ method: method.name, code: status.code, details: status.details }, "call failed");
      callback(status);
    };
    const tracked: TrackedCall = {
      streaming: false,
      end: (reason) => {
        fail(reason);
        scope.abort(reason);
      },
    };
    tracker.add(tracked);
    const run = async (): Promise<void> => {
      try {
        const bad = malformedError(call.request, method);
        if (bad !== undefined) throw bad;
        const res: MessageInitShape<DescMessage> = await impl(call.request, scope.ctx);
        if (answered) return;
        answered = true;
        callback(null, create(method.output, res));
      } catch (err: unknown) {
        fail(err);
      } finally {
        tracker.delete(tracked);
        scope.finish();
      }
    };
    run().catch((err: unknown) => log.error({ err, method: method.name }, "unary call handling failed"));
  };
}

async function pump(
  call: ServerWritableStream<Message, Message>,
  method: DescMethod,
  impl: AnyStreamingImpl,
  ctx: HandlerContext,
  log: Logger,
): Promise<void> {
  const signal = ctx.signal;
  let iterator: AsyncIterator<MessageInitShape<DescMessage>> | undefined;
  let done = false;
  try {
    const bad = malformedError(call.request, method);
    if (bad !== undefined) throw bad;
    iterator = impl(call.request, ctx)[Symbol.asyncIterator]();
    for (;;) {
      const next = await untilAborted(iterator.next(), signal);
      if (next.done === true) break;
      if (!call.write(create(method.output, next.value))) await drained(call, signal);
    }
    done = true;
    if (!call.cancelled) call.end();
  } catch (err: unknown) {
    // A cancelled call has no one to tell (grpc-js has already closed it).
    if (!call.cancelled) {
      const status = statusFor(err, method, log);
      log.debug({ method: method.name, code: status.code, details: status.details }, "stream failed");
      // grpc-js ends the call with this status once queued messages are sent.
      call.emit("error", status);
    }
  } finally {
    // Stop the handler's generator without waiting for it: it may be blocked until it sees the
    // signal (which the caller aborts right after this).
    if (!done && iterator?.return !== undefined) {
      iterator
        .return()
        .catch((err: unknown) =>
          log.warn({ err, method: method.name }, "stream handler failed while stopping"),
        );
    }
  }
}

export function serverStreamingHandler(
  method: DescMethod,
  impl: AnyStreamingImpl,
  tracker: CallTracker,
  log: Logger,
): handleServerStreamingCall<Message, Message> {
  return (call) => {
    if (tracker.closing) {
      call.emit(
        "error",
        statusFor(new StagefarmError("unavailable", "the server is shutting down"), method, log),
      );
      return;
    }
    const scope = openScope(call, method, tracker);
    const tracked: TrackedCall = { streaming: true, end: (reason) => scope.abort(reason) };
    tracker.add(tracked);
    const run = async (): Promise<void> => {
      try {
        await pump(call, method, impl, scope.ctx, log);
      } finally {
        tracker.delete(tracked);
        scope.finish();
      }
    };
    run().catch((err: unknown) => log.error({ err, method: method.name }, "stream handling failed"));
  };
}
