/**
 * grpc-js service definitions built from protobuf-es v2 service descriptors (protoc-gen-es emits
 * none). Messages are encoded with `toBinary` and decoded with `fromBinary` from a plain
 * Uint8Array view of the received Buffer: decoding a Buffer would make every `bytes` field a
 * Buffer (protobuf-es slices its input), which then differs from a Uint8Array in `equals`,
 * JSON and tests.
 *
 * A request that does not decode is not an error inside grpc-js (which would answer INTERNAL):
 * the server's deserializer gives an empty message marked as malformed, and the handler
 * (./server-handlers.ts) answers INVALID_ARGUMENT for it without calling the implementation.
 */
import { create, fromBinary, toBinary, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import type { Message } from "@bufbuild/protobuf";

/** The HTTP/2 path of an RPC: `/stagefarm.v1.StagefarmService/SubmitRun`. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

export function serializer(schema: DescMessage): (msg: Message) => Buffer {
  return (msg) => {
    const bytes = toBinary(schema, msg);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

export function deserializer(schema: DescMessage): (buf: Buffer) => Message {
  return (buf) => fromBinary(schema, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
}

const malformed = new WeakMap<Message, string>();

/** The server side's deserializer: a request that does not decode becomes a marked empty message. */
export function requestDeserializer(schema: DescMessage): (buf: Buffer) => Message {
  const decode = deserializer(schema);
  return (buf) => {
    try {
      return decode(buf);
    } catch (err: unknown) {
      const msg = create(schema);
      malformed.set(msg, err instanceof Error ? err.message : String(err));
      return msg;
    }
  };
}

/** Why a received request did not decode, or undefined when it did. */
export function malformedReason(msg: Message): string | undefined {
  return malformed.get(msg);
}
