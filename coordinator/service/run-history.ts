/**
 * The runs a single-process coordinator (`stagefarm up`) keeps across restarts in its state KV:
 * before it starts, runs its previous process left `running` (it was killed, or a second signal
 * cancelled them) are closed as interrupted, and the history is bounded to the newest runs.
 *
 * Interrupted, not resumed: in one process no agent survives the restart, so a stage it was
 * running would wait out its lease. The run is `failed`, a stage that was running (or ready)
 * `failed` with code `unavailable` and a message saying so, a waiting one `cancelled`;
 * `stagefarm retry RUN STAGE` runs it again, its finished stages from the cache.
 */
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { KvStore } from "../../shared/ports/index.js";
import { decodeMessage, encodeMessage } from "../../shared/protocol/messages.js";
import { runDocSchema, runKey, type RunDoc } from "./run-doc.js";

export const INTERRUPTED_MESSAGE =
  "interrupted: stagefarm up stopped while this stage ran (`stagefarm retry RUN STAGE` runs it again)";

async function readRuns(kv: KvStore, log: Logger): Promise<RunDoc[]> {
  const docs: RunDoc[] = [];
  for (const key of await kv.keys("runs")) {
    const e = await kv.get(key);
    if (e === undefined) continue;
    const d = decodeMessage(runDocSchema, e.value);
    if (d.ok) docs.push(d.value);
    else log.warn({ key, reason: d.reason }, "skipping an unreadable run record");
  }
  return docs.sort((a, b) => b.createdAt - a.createdAt);
}

/** The run closed as interrupted at `now` (its stages that had not ended, too). */
export function interrupted(doc: RunDoc, now: number): RunDoc {
  const stages = Object.fromEntries(
    Object.entries(doc.stages).map(([name, s]) => {
      if (s.state === "running" || s.state === "ready")
        return [
          name,
          {
            ...s,
            state: "failed" as const,
            ...(s.startedAt === undefined ? {} : { durationMs: now - s.startedAt }),
            error: { code: "unavailable", message: INTERRUPTED_MESSAGE },
          },
        ];
      if (s.state === "waiting")
        return [name, { state: "cancelled" as const, reason: "interrupted: stagefarm up stopped" }];
      return [name, s];
    }),
  );
  return { ...doc, status: "failed", finishedAt: now, stages };
}

/**
 * Closes the runs left running as interrupted and deletes all but the newest `keep` runs (with
 * their dispatch records). Call before the coordinator starts (it would resume them).
 */
export async function settleRunHistory(
  kv: KvStore,
  opts: { keep: number; logger: Logger; now?: number },
): Promise<{ interrupted: string[]; removed: string[] }> {
  const now = opts.now ?? Date.now();
  const docs = await readRuns(kv, opts.logger);
  const report = { interrupted: [] as string[], removed: [] as string[] };
  for (const doc of docs) {
    if (doc.status !== "running") continue;
    await kv.put(runKey(doc.id), encodeMessage(interrupted(doc, now)));
    report.interrupted.push(doc.id);
  }
  for (const doc of docs.slice(Math.max(0, opts.keep))) {
    await removeRun(kv, doc.id);
    report.removed.push(doc.id);
  }
  return report;
}

/** Deletes finished runs beyond the newest `keep` (a running one is never removed). */
export async function pruneRuns(kv: KvStore, keep: number, logger: Logger): Promise<string[]> {
  const removed: string[] = [];
  for (const doc of (await readRuns(kv, logger)).slice(Math.max(0, keep))) {
    if (doc.status === "running") continue;
    await removeRun(kv, doc.id);
    removed.push(doc.id);
  }
  return removed;
}

async function removeRun(kv: KvStore, id: string): Promise<void> {
  try {
    for (const key of await kv.keys(`stages.${id}`)) await kv.delete(key);
    await kv.delete(runKey(id));
  } catch (err: unknown) {
    throw new StagefarmError("unavailable", `cannot remove run ${id} from the state`, { cause: err });
  }
}
