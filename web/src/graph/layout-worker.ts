/** Lays out a run's stage graph with dagre, off the page's main thread (see ./layout.ts). */
import dagre from "@dagrejs/dagre";
import type { LayoutReply, LayoutRequest } from "./layout";

interface WorkerScope {
  onmessage: ((ev: MessageEvent<LayoutRequest>) => void) | null;
  postMessage(msg: LayoutReply): void;
}
const scope = self as unknown as WorkerScope;

scope.onmessage = (ev) => {
  const req = ev.data;
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 56, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  req.names.forEach((name, i) => g.setNode(name, { width: req.widths[i] ?? 120, height: req.height }));
  req.names.forEach((name, i) => {
    for (const d of req.deps[i] ?? []) if (g.hasNode(d)) g.setEdge(d, name);
  });
  dagre.layout(g, { disableOptimalOrderHeuristic: req.names.length > 150 });
  const nodes: LayoutReply["nodes"] = req.names.map((name, i) => {
    const n = g.node(name) as { x: number; y: number };
    return [name, n.x - (req.widths[i] ?? 120) / 2, n.y - req.height / 2];
  });
  const edges: LayoutReply["edges"] = g.edges().map((e) => ({
    from: e.v,
    to: e.w,
    points: ((g.edge(e) as { points?: Array<{ x: number; y: number }> }).points ?? []).map((p) => ({
      x: p.x,
      y: p.y,
    })),
  }));
  const label = g.graph() as { width?: number; height?: number };
  scope.postMessage({ nodes, edges, width: label.width ?? 0, height: label.height ?? 0 });
};
