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
