/**
 * Skips a tar-stream entry's data. tar-stream's streams are streamx streams: when the extract
 * is destroyed (an abort, a failure elsewhere in the pipeline) while a skipped entry is still
 * draining, the entry is destroyed with the same error and emits `error`; with no listener that
 * is an uncaught exception that takes down the process. The error is not lost: the extract and
 * its pipeline report it to whoever awaits them.
 */
export function skipEntry(entry: { on(event: "error", fn: () => void): unknown; resume(): unknown }): void {
  entry.on("error", () => undefined);
  entry.resume();
}
