/** A run's progress: one bar segment per stage state, widths by how many stages are in it. */
import type { Counts } from "../api/types";

const ORDER: Array<keyof Counts> = [
  "done",
  "cached",
  "failed",
  "running",
  "ready",
  "cancelled",
  "skipped",
  "waiting",
];

export function Progress(props: { counts: Counts }) {
  const c = props.counts;
  const total = Math.max(1, c.total);
  const finished = c.done + c.cached + c.failed + c.skipped + c.cancelled;
  const title = ORDER.filter((k) => c[k] > 0)
    .map((k) => `${c[k]} ${k === "ready" ? "queued" : k}`)
    .join(", ");
  return (
    <span class="progress" title={title} data-testid="progress">
      <span class="bar">
        {ORDER.map((k) =>
          c[k] === 0 ? null : (
            <span key={k} class={`seg state-${k}`} style={{ width: `${(100 * c[k]) / total}%` }} />
          ),
        )}
      </span>
      <span class="muted">
        {finished}/{c.total}
      </span>
    </span>
  );
}

export function StatusBadge(props: { status: string }) {
  return (
    <span class={`badge status-${props.status}`} data-testid="run-status">
      {props.status}
    </span>
  );
}

export function ConnPill(props: { status: string | undefined }) {
  const s = props.status ?? "connecting";
  return (
    <span class={`conn conn-${s}`} data-testid="conn">
      {s === "live" ? "live" : s === "reconnecting" ? "reconnecting…" : "connecting…"}
    </span>
  );
}
