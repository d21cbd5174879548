/** The JSON body of a run-end notification (webhook POST body, a command's stdin). */
import type { RunDoc } from "../service/run-doc.js";

export interface RunSummary {
  /** Always "run-finished"; receivers may dispatch on it. */
  event: "run-finished";
  runId: string;
  pipeline: string;
  status: RunDoc["status"];
  /** The schedule that started the run, or null for a run submitted otherwise. */
  schedule: string | null;
  params: Record<string, string>;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  failedStages: string[];
  /** The run's page on the dashboard, when the server knows its own URL. */
  dashboardUrl: string | null;
}

export function runSummary(
  doc: RunDoc,
  schedule: string | undefined,
  dashboardBase: string | undefined,
): RunSummary {
  const finishedAt = doc.finishedAt ?? Date.now();
  return {
    event: "run-finished",
    runId: doc.id,
    pipeline: doc.pipeline,
    status: doc.status,
    schedule: schedule ?? null,
    params: doc.params,
    startedAt: new Date(doc.createdAt).toISOString(),
    finishedAt: new Date(finishedAt).toISOString(),
    durationMs: Math.max(0, finishedAt - doc.createdAt),
    failedStages: Object.entries(doc.stages)
      .filter(([, s]) => s.state === "failed")
      .map(([name]) => name)
      .sort(),
    dashboardUrl:
      dashboardBase === undefined
        ? null
        : `${dashboardBase.replace(/\/+$/, "")}/ui/#/runs/${encodeURIComponent(doc.id)}`,
  };
}
