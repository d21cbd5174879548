/**
 * The lines of the live status area (./status-area.ts): one per running stage with its elapsed
 * and expected time, then the progress and the ETA of what remains (shared/pipeline/run-eta.ts).
 *
 *   stage3    1h02m / ~3h10m
 *   compile   14m05s / ~12m00s (over)
 *   12 of 31 stages (8 cached) · 2 running · ETA ~2h08m
 */
import { runEta } from "../shared/pipeline/index.js";
import { formatDuration } from "../shared/util/duration.js";
import type { Style } from "./output.js";

export interface PlannedStage {
  name: string;
  after: readonly string[];
  /** The recorded p50, else `estimate:`, else a default (coordinator `expectedDuration`). */
  expectedMs: number;
}

export interface StatusState {
  plan: readonly PlannedStage[];
  /** Running stages → when they started (ms, same clock as `now`). */
  running: ReadonlyMap<string, number>;
  /** Stages in a terminal state, and which of them were cache hits. */
  finished: ReadonlySet<string>;
  cached: ReadonlySet<string>;
  slots: number;
  now: number;
}

/** The area's lines for `state`. */
export function statusLines(state: StatusState, c: Style): string[] {
  const expected = new Map(state.plan.map((s) => [s.name, s.expectedMs]));
  const width = Math.max(0, ...[...state.running.keys()].map((n) => n.length));
  const lines = [...state.running]
    .sort((a, b) => a[1] - b[1])
    .map(([name, since]) => {
      const elapsed = Math.max(0, state.now - since);
      const exp = expected.get(name);
      const over = exp !== undefined && elapsed > exp ? c.yellow(" (over)") : "";
      return `  ${c.cyan(name.padEnd(width))}  ${formatDuration(elapsed)} / ~${exp === undefined ? "?" : formatDuration(exp)}${over}`;
    });
  const eta = runEta(
    state.plan.map((s) => {
      const since = state.running.get(s.name);
      return {
        ...s,
        state: state.finished.has(s.name) ? "finished" : since !== undefined ? "running" : "pending",
        ...(since === undefined ? {} : { elapsedMs: state.now - since }),
      };
    }),
    state.slots,
  );
  const cached = state.cached.size > 0 ? ` (${state.cached.size} cached)` : "";
  const running = state.running.size > 0 ? ` · ${state.running.size} running` : "";
  lines.push(
    c.bold(
      `${state.finished.size} of ${state.plan.length} stages${cached}${running} · ETA ~${formatDuration(eta.remainingMs)}`,
    ),
  );
  return lines;
}
