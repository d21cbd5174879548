/**
 * The live status area of `submit --watch` on a terminal: the same lines as `stagefarm run`'s
 * (./status-lines.ts), fed from the coordinator's `StageRun` messages. Expected durations come
 * from the farm's recorded history (GetStats) and the pipeline's `estimate:`s.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { StageRun } from "../proto/gen/stagefarm/v1/run_pb.js";
import type { Style } from "./output.js";
import type { StatusArea } from "./status-area.js";
import { statusLines } from "./status-lines.js";
import { stageStateName } from "./commands/remote-format.js";

const FINISHED = new Set(["done", "cached", "failed", "skipped", "cancelled"]);

export class WatchStatus implements Disposable {
  private readonly stages = new Map<string, StageRun>();
  /** When this client first saw each running stage run (bounds a skewed coordinator clock). */
  private readonly seen = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly area: StatusArea,
    private readonly expectedMs: (stage: string) => number,
    private readonly style: Style,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.redraw(), 1000);
    this.timer.unref();
  }

  /** A line above the area. */
  print(text: string): void {
    if (this.timer === undefined) return;
    this.area.print(text);
  }

  update(s: StageRun): void {
    this.stages.set(s.name, s);
    if (stageStateName(s.state) === "running") {
      if (!this.seen.has(s.name)) this.seen.set(s.name, this.now());
    } else this.seen.delete(s.name);
    this.redraw();
  }

  redraw(): void {
    if (this.timer === undefined) return;
    const now = this.now();
    const running = new Map<string, number>();
    for (const [name, at] of this.seen) {
      const s = this.stages.get(name);
      const started = s?.startedAt === undefined ? at : timestampMs(s.startedAt);
      running.set(name, started <= now ? Math.min(at, started) : at);
    }
    const all = [...this.stages.values()];
    const states = all.map((s) => [s.name, stageStateName(s.state)] as const);
    this.area.update(
      statusLines(
        {
          plan: all.map((s) => ({ name: s.name, after: s.dependsOn, expectedMs: this.expectedMs(s.name) })),
          running,
          finished: new Set(states.filter(([, t]) => FINISHED.has(t)).map(([n]) => n)),
          cached: new Set(states.filter(([, t]) => t === "cached").map(([n]) => n)),
          slots: Number.POSITIVE_INFINITY,
          now,
        },
        this.style,
      ),
    );
  }

  [Symbol.dispose](): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.area.clear();
  }
}
