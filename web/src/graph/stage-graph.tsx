/**
 * The run's stages as a graph (SVG): boxes coloured by state (cached ones dashed, so a cache
 * hit is told from an executed stage at a glance), the critical path outlined, waiting stages
 * showing why they wait. Laid out once per pipeline structure (./layout.ts); state changes only
 * re-render the boxes whose stage changed. Names and reasons are text nodes, never markup.
 */
import { Component } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Stage } from "../api/types";
import { fmtDuration } from "../format";
import {
  DAGRE_MAX_NODES,
  dagreLayout,
  quickLayout,
  type EdgePath,
  type Layout,
  type NodeBox,
} from "./layout";

export const STATE_LABEL: Record<Stage["state"], string> = {
  waiting: "waiting",
  ready: "queued",
  running: "running",
  cached: "cached",
  done: "done",
  failed: "failed",
  skipped: "skipped",
  cancelled: "cancelled",
};

export function stageSubtitle(s: Stage, now: number): string {
  const label = STATE_LABEL[s.state];
  switch (s.state) {
    case "waiting":
    case "ready":
      return s.reason === "" ? label : `${label} · ${s.reason}`;
    case "running":
      // Elapsed / expected first: a narrow node clips the end of the line.
      return [s.startedAt === undefined ? label : elapsedOf(s, now, true), s.agent]
        .filter((x) => x !== "")
        .join(" · ");
    case "done":
    case "failed":
      return s.startedAt !== undefined && s.finishedAt !== undefined
        ? `${label} · ${fmtDuration(s.finishedAt - s.startedAt)}`
        : label;
    case "skipped":
    case "cancelled":
      return s.reason === "" ? label : `${label} · ${s.reason}`;
    default:
      return label;
  }
}

/**
 * "12m 05s / ~40m 00s" for a running stage (without the expected part when unknown); `compact`
 * ("12m05s/~40m00s") fits a graph node.
 */
export function elapsedOf(s: Stage, now: number, compact = false): string {
  const f = (ms: number | undefined) => (compact ? fmtDuration(ms).replaceAll(" ", "") : fmtDuration(ms));
  const elapsed = s.startedAt === undefined ? undefined : Math.max(0, now - s.startedAt);
  return `${f(elapsed)}${s.expectedMs > 0 ? `${compact ? "/~" : " / ~"}${f(s.expectedMs)}` : ""}`;
}

function clip(text: string, width: number): string {
  const max = Math.max(4, Math.floor(width / 6.6));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

interface NodeProps {
  stage: Stage;
  box: NodeBox;
  selected: boolean;
  critical: boolean;
  /** Only running stages get the clock (their duration grows); others get 0 and do not re-render. */
  now: number;
  onSelect: (name: string) => void;
}

class StageNode extends Component<NodeProps> {
  override shouldComponentUpdate(next: NodeProps): boolean {
    const p = this.props;
    return (
      next.stage !== p.stage ||
      next.box !== p.box ||
      next.selected !== p.selected ||
      next.critical !== p.critical ||
      next.now !== p.now
    );
  }

  override render() {
    const { stage: s, box, selected, critical } = this.props;
    const sub = stageSubtitle(s, this.props.now);
    const cls = `node state-${s.state}${critical ? " critical" : ""}${selected ? " selected" : ""}`;
    return (
      <g
        class={cls}
        transform={`translate(${box.x},${box.y})`}
        data-stage={s.name}
        data-state={s.state}
        onClick={() => this.props.onSelect(s.name)}
      >
        <title>{`${s.name}\n${sub}${s.error === "" ? "" : `\n${s.error}`}`}</title>
        <rect class="box" width={box.w} height={box.h} rx={6} ry={6} />
        <rect class="band" width={5} height={box.h} rx={2} ry={2} />
        <text class="name" x={12} y={18}>
          {clip(s.name, box.w - 16)}
        </text>
        <text class="sub" x={12} y={34}>
          {clip(sub, box.w - 16)}
        </text>
      </g>
    );
  }
}

function edgePath(e: EdgePath): string {
  const [a, ...rest] = e.points;
  if (a === undefined) return "";
  const b = rest[rest.length - 1];
  if (rest.length === 1 && b !== undefined) {
    const mx = (a.x + b.x) / 2;
    return `M${a.x},${a.y} C${mx},${a.y} ${mx},${b.y} ${b.x},${b.y}`;
  }
  return `M${a.x},${a.y} ${rest.map((p) => `L${p.x},${p.y}`).join(" ")}`;
}

interface GraphProps {
  stages: readonly Stage[];
  critical: ReadonlySet<string>;
  selected: string | undefined;
  now: number;
  onSelect: (name: string) => void;
}

export function StageGraph(props: GraphProps) {
  const { stages } = props;
  // The layout depends on the structure only: names and edges.
  const structure = stages.map((s) => `${s.name}<${s.dependsOn.join(",")}`).join("\n");
  const input = useMemo(
    () => ({ names: stages.map((s) => s.name), deps: stages.map((s) => s.dependsOn) }),
    [structure],
  );
  const quick = useMemo(() => quickLayout(input), [input]);
  const [refined, setRefined] = useState<{ for: typeof input; layout: Layout } | undefined>(undefined);
  useEffect(() => {
    if (input.names.length < 2 || input.names.length > DAGRE_MAX_NODES) return;
    const job = dagreLayout(input);
    job.result.then(
      (layout) => setRefined({ for: input, layout }),
      () => undefined, // the quick layout stays
    );
    return job.cancel;
  }, [input]);
  const layout = refined?.for === input ? refined.layout : quick;
  const [scale, setScale] = useState(1);
  const wrap = useRef<HTMLDivElement>(null);
  const fit = (): void => {
    const w = wrap.current?.clientWidth ?? layout.width;
    setScale(Math.max(0.2, Math.min(1, (w - 8) / Math.max(1, layout.width))));
  };
  const criticalEdge = (e: EdgePath): boolean => props.critical.has(e.from) && props.critical.has(e.to);
  return (
    <div class="graph-panel">
      <div class="graph-tools">
        <button type="button" onClick={() => setScale((s) => Math.max(0.2, s / 1.25))} title="zoom out">
          −
        </button>
        <button type="button" onClick={() => setScale((s) => Math.min(3, s * 1.25))} title="zoom in">
          +
        </button>
        <button type="button" onClick={fit}>
          fit
        </button>
        <span class="muted" data-testid="layout-engine">
          {stages.length} stages · {layout.engine === "dagre" ? "dagre layout" : "quick layout"}
        </span>
      </div>
      <div class="graph-wrap" ref={wrap}>
        <svg
          class="graph"
          data-testid="stage-graph"
          width={layout.width * scale}
          height={layout.height * scale}
          viewBox={`0 0 ${layout.width} ${layout.height}`}
        >
          <defs>
            <marker
              id="arrow"
              viewBox="0 0 10 10"
              refX="9"
              refY="5"
              markerWidth="7"
              markerHeight="7"
              orient="auto"
            >
              <path d="M0,0 L10,5 L0,10 z" class="arrow" />
            </marker>
            <marker
              id="arrow-critical"
              viewBox="0 0 10 10"
              refX="9"
              refY="5"
              markerWidth="7"
              markerHeight="7"
              orient="auto"
            >
              <path d="M0,0 L10,5 L0,10 z" class="arrow critical" />
            </marker>
          </defs>
          <g class="edges">
            {layout.edges.map((e) => (
              <path
                key={`${e.from}>${e.to}`}
                class={criticalEdge(e) ? "edge critical" : "edge"}
                d={edgePath(e)}
                marker-end={criticalEdge(e) ? "url(#arrow-critical)" : "url(#arrow)"}
              />
            ))}
          </g>
          <g class="nodes">
            {stages.map((s) => {
              const box = layout.nodes.get(s.name);
              return box === undefined ? null : (
                <StageNode
                  key={s.name}
                  stage={s}
                  box={box}
                  selected={props.selected === s.name}
                  critical={props.critical.has(s.name)}
                  now={s.state === "running" ? props.now : 0}
                  onSelect={props.onSelect}
                />
              );
            })}
          </g>
        </svg>
      </div>
    </div>
  );
}
