/**
 * A timeline of the run's attempts per agent (a Gantt chart): one row per agent, a bar per
 * attempt from its claim to its end (running ones grow to now), coloured by outcome; stages an
 * agent ran at the same time stack in lanes; a bar wide enough carries its stage's name. Clicking
 * a bar opens the stage.
 */
import type { RefObject } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { OutcomeName, Stage } from "../api/types";
import { fmtDuration } from "../format";

interface Bar {
  stage: string;
  attempt: number;
  agent: string;
  start: number;
  end: number;
  outcome: OutcomeName;
  lane: number;
}

const LABEL_W = 150;
const LANE_H = 16;
const ROW_GAP = 8;
const MAX_BARS = 3000;
/** Width of a character of a bar's label (10 px sans-serif), for fitting names in bars. */
const CHAR_W = 6;

/** The chart's width follows its container's. */
function useWidth(): [RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(900);
  useEffect(() => {
    const el = ref.current;
    if (el === null) return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    setWidth(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  return [ref, width];
}

/** The stage's name (and attempt, after the first) as fits in a bar `width` pixels wide, or "". */
function barLabel(stage: string, attempt: number, width: number): string {
  const text = attempt > 1 ? `${stage} #${attempt}` : stage;
  const fits = Math.floor((width - 8) / CHAR_W);
  if (fits < 3) return "";
  return text.length <= fits ? text : `${text.slice(0, fits - 1)}…`;
}

export function Gantt(props: { stages: readonly Stage[]; now: number; onSelect: (name: string) => void }) {
  const [ref, width] = useWidth();
  const CHART_W = Math.max(300, width - LABEL_W - 24);
  let bars: Bar[] = [];
  for (const s of props.stages)
    for (const a of s.attempts) {
      // Not started on an agent yet (queued): nothing to draw.
      if (a.startedAt === undefined || (a.agent === "" && a.outcome === "running")) continue;
      const end = a.finishedAt ?? (a.outcome === "running" ? props.now : a.startedAt);
      bars.push({
        stage: s.name,
        attempt: a.number,
        agent: a.agent,
        start: a.startedAt,
        end: Math.max(end, a.startedAt),
        outcome: a.outcome,
        lane: 0,
      });
    }
  if (bars.length === 0)
    return (
      <div ref={ref} class="gantt-wrap">
        <p class="muted">No attempts have started yet.</p>
      </div>
    );
  bars.sort((a, b) => a.start - b.start);
  if (bars.length > MAX_BARS) bars = bars.slice(bars.length - MAX_BARS);
  const rows = new Map<string, { bars: Bar[]; laneEnds: number[] }>();
  for (const b of bars) {
    const key = b.agent === "" ? "(agent unknown)" : b.agent;
    const row = rows.get(key) ?? { bars: [], laneEnds: [] };
    rows.set(key, row);
    let lane = row.laneEnds.findIndex((e) => e <= b.start);
    if (lane < 0) lane = row.laneEnds.length;
    row.laneEnds[lane] = b.end;
    b.lane = lane;
    row.bars.push(b);
  }
  const t0 = Math.min(...bars.map((b) => b.start));
  const t1 = Math.max(...bars.map((b) => b.end));
  const span = Math.max(1000, t1 - t0);
  const x = (t: number): number => LABEL_W + ((t - t0) / span) * CHART_W;
  let y = 24;
  const laid = [...rows.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([agent, row]) => {
      const top = y;
      const lanes = Math.max(1, row.laneEnds.length);
      y += lanes * LANE_H + ROW_GAP;
      return { agent, row, top, height: lanes * LANE_H };
    });
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return (
    <div class="gantt-wrap" ref={ref}>
      <svg class="gantt" data-testid="gantt" width={LABEL_W + CHART_W + 20} height={y + 4}>
        {ticks.map((f) => (
          <g key={f}>
            <line class="tick" x1={LABEL_W + f * CHART_W} x2={LABEL_W + f * CHART_W} y1={16} y2={y} />
            <text class="tick-label" x={LABEL_W + f * CHART_W} y={12}>
              {`+${fmtDuration(f * span)}`}
            </text>
          </g>
        ))}
        {laid.map(({ agent, row, top, height }) => (
          <g key={agent}>
            <rect class="row-bg" x={0} y={top - 2} width={LABEL_W + CHART_W + 20} height={height + 4} />
            <text class="agent" x={6} y={top + 12}>
              {agent.length > 20 ? `${agent.slice(0, 19)}…` : agent}
            </text>
            {row.bars.map((b) => {
              const w = Math.max(2, x(b.end) - x(b.start));
              const label = barLabel(b.stage, b.attempt, w);
              return (
                <g key={`${b.stage}#${b.attempt}`} onClick={() => props.onSelect(b.stage)}>
                  <rect
                    class={`bar outcome-${b.outcome}`}
                    x={x(b.start)}
                    y={top + b.lane * LANE_H}
                    width={w}
                    height={LANE_H - 3}
                    rx={2}
                  >
                    <title>{`${b.stage} #${b.attempt} on ${agent}: ${b.outcome.replace("_", " ")}, ${fmtDuration(b.end - b.start)}`}</title>
                  </rect>
                  {label === "" ? null : (
                    <text class="bar-label" x={x(b.start) + 4} y={top + b.lane * LANE_H + 10}>
                      {label}
                    </text>
                  )}
                </g>
              );
            })}
          </g>
        ))}
      </svg>
    </div>
  );
}
