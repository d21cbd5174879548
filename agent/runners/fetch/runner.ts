/**
 * The `fetch` runner: puts each of the stage's pinned sources into the store (verified by
 * sha256, see ../fetch-source.ts) and returns them as outputs of the same name, kind "file".
 * The stage's timeout bounds all downloads together.
 */
import { StagefarmError } from "../../../shared/errors.js";
import { fetchToStore, type FetchOptions } from "../../fetch-source.js";
import { formatLimit, type Runner, type RunnerContext, type RunnerResult } from "../common/index.js";

export type FetchRunnerOptions = Pick<FetchOptions, "retries" | "retryDelayMs">;

export function createFetchRunner(opts: FetchRunnerOptions = {}): Runner<"fetch"> {
  return {
    kind: "fetch",
    run: (ctx) => runFetch(ctx, opts),
  };
}

async function runFetch(ctx: RunnerContext, opts: FetchRunnerOptions): Promise<RunnerResult> {
  const { stage } = ctx;
  const deadline = new AbortController();
  const timeoutMs = stage.timeoutMs;
  const timer =
    timeoutMs > 0 && Number.isFinite(timeoutMs)
      ? setTimeout(() => deadline.abort(), Math.min(timeoutMs, 2 ** 31 - 1))
      : undefined;
  const signal = AbortSignal.any([ctx.signal, deadline.signal]);
  try {
    const stored: NonNullable<RunnerResult["stored"]> = {};
    for (const { name, source } of stage.sources) {
      const blob = await fetchToStore(source, ctx.store, {
        ...opts,
        signal,
        logger: ctx.logger,
        log: ctx.log,
      });
      stored[name] = { digest: blob.digest, size: blob.size, kind: "file" };
    }
    return { stored };
  } catch (err: unknown) {
    if (deadline.signal.aborted && !ctx.signal.aborted)
      throw new StagefarmError("timeout", `stage "${stage.name}" timed out after ${formatLimit(timeoutMs)}`, {
        cause: err,
        details: { timeoutMs },
      });
    throw StagefarmError.from(err);
  } finally {
    clearTimeout(timer);
  }
}
