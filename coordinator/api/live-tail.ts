/**
 * The log of a running attempt from its first byte, for TailLogs: its stored log does not exist
 * until the attempt ends, so what exists so far is the tail the coordinator holds
 * (../dashboard/live-logs.ts, from byte 0 unless the log outgrew the held window). Read by
 * offset, then (with `follow`) each new byte as it is held, until the attempt ends.
 */
import type { LiveLog, LiveLogs } from "../dashboard/live-logs.js";

const CHUNK = 64 << 10;

export async function* heldLog(
  live: LiveLogs,
  log: LiveLog,
  from: number,
  follow: boolean,
  signal: AbortSignal,
): AsyncGenerator<{ offset: number; data: Uint8Array }> {
  let sent = from;
  while (!signal.aborted) {
    const { offset, data } = live.read(log, sent, CHUNK);
    if (data.length > 0) {
      yield { offset, data };
      sent = offset + data.length;
      continue;
    }
    if (!follow || log.done) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        un();
        signal.removeEventListener("abort", done);
        resolve();
      };
      const un = live.watch(log, done);
      signal.addEventListener("abort", done);
    });
  }
}

/** The offset where the last `n` lines of `bytes` (which start at offset `base`) begin. */
export function tailLinesOffset(bytes: Uint8Array, base: number, n: number): number {
  let i = bytes.length;
  // A final newline ends the last line; it does not start another.
  if (i > 0 && bytes[i - 1] === 0x0a) i--;
  let seen = 0;
  while (i > 0) {
    if (bytes[i - 1] === 0x0a && ++seen === n) return base + i;
    i--;
  }
  return base;
}

/** The offset of the last `n` lines of a stored log of `size` bytes (looked for in its last 4 MiB). */
export async function storedTailOffset(
  read: (start: number) => Promise<AsyncIterable<Buffer>>,
  size: number,
  n: number,
): Promise<number> {
  const start = Math.max(0, size - (4 << 20));
  const parts: Buffer[] = [];
  for await (const c of await read(start)) parts.push(c);
  return tailLinesOffset(Buffer.concat(parts), start, n);
}
