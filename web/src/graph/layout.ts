/**
 * Where each stage of the graph goes. Two layouts of the same structure: a quick layered one
 * computed at once on the page (ranks by longest path from the roots, order within a rank by
 * the mean position of the stage's inputs), shown immediately; and dagre's (fewer crossings,
 * routed edges), computed in a Web Worker so that a graph of hundreds of stages never blocks
 * the page, and swapped in when it arrives.
 */
export interface Point {
  x: number;
  y: number;
}
export interface NodeBox {
  /** Top-left corner. */
  x: number;
  y: number;
  w: number;
  h: number;
}
export interface EdgePath {
  from: string;
  to: string;
  points: Point[];
}
export interface Layout {
  nodes: Map<string, NodeBox>;
  edges: EdgePath[];
  width: number;
  height: number;
  engine: "quick" | "dagre";
}
export interface GraphInput {
  names: string[];
  /** Per name, the stages it depends on (edges dep → name). */
  deps: string[][];
}
/** The message the worker gets and the one it answers with. */
export interface LayoutRequest extends GraphInput {
  widths: number[];
  height: number;
}
export interface LayoutReply {
  nodes: Array<[string, number, number]>;
  edges: EdgePath[];
  width: number;
  height: number;
}

export const NODE_H = 44;
const GAP_X = 56;
const GAP_Y = 14;
const MARGIN = 16;
/** Above this many stages dagre takes too long even in a worker: the quick layout stays. */
export const DAGRE_MAX_NODES = 1500;

export function nodeWidth(name: string): number {
  return Math.max(120, Math.min(240, 28 + name.length * 7.2));
}

export function quickLayout(g: GraphInput): Layout {
  const index = new Map(g.names.map((n, i) => [n, i]));
  const rank = new Array<number>(g.names.length).fill(-1);
  const visiting = new Set<number>();
  const rankOf = (i: number): number => {
    const known = rank[i] ?? -1;
    if (known >= 0) return known;
    if (visiting.has(i)) return 0; // a cycle cannot be in a valid pipeline; do not loop on one
    visiting.add(i);
    let r = 0;
    for (const d of g.deps[i] ?? []) {
      const j = index.get(d);
      if (j !== undefined) r = Math.max(r, rankOf(j) + 1);
    }
    visiting.delete(i);
    rank[i] = r;
    return r;
  };
  const byRank: number[][] = [];
  for (let i = 0; i < g.names.length; i++) (byRank[rankOf(i)] ??= []).push(i);
  const order = new Array<number>(g.names.length).fill(0);
  const colWidth: number[] = [];
  for (const [r, members] of byRank.entries()) {
    const list = members ?? [];
    const key = (i: number): number => {
      const ds = (g.deps[i] ?? []).map((d) => index.get(d)).filter((j): j is number => j !== undefined);
      return ds.length === 0 ? i : ds.reduce((a, j) => a + (order[j] ?? 0), 0) / ds.length;
    };
    const keys = new Map(list.map((i) => [i, key(i)]));
    list.sort((a, b) => (keys.get(a) ?? 0) - (keys.get(b) ?? 0) || a - b);
    list.forEach((i, pos) => (order[i] = pos));
    colWidth[r] = Math.max(0, ...list.map((i) => nodeWidth(g.names[i] ?? "")));
  }
  const colX: number[] = [];
  let x = MARGIN;
  for (let r = 0; r < byRank.length; r++) {
    colX[r] = x;
    x += (colWidth[r] ?? 0) + GAP_X;
  }
  const nodes = new Map<string, NodeBox>();
  let height = 0;
  g.names.forEach((name, i) => {
    const box = {
      x: colX[rank[i] ?? 0] ?? MARGIN,
      y: MARGIN + (order[i] ?? 0) * (NODE_H + GAP_Y),
      w: nodeWidth(name),
      h: NODE_H,
    };
    nodes.set(name, box);
    height = Math.max(height, box.y + NODE_H + MARGIN);
  });
  const edges: EdgePath[] = [];
  g.names.forEach((name, i) => {
    const to = nodes.get(name);
    for (const d of g.deps[i] ?? []) {
      const from = nodes.get(d);
      if (from === undefined || to === undefined) continue;
      edges.push({
        from: d,
        to: name,
        points: [
          { x: from.x + from.w, y: from.y + from.h / 2 },
          { x: to.x, y: to.y + to.h / 2 },
        ],
      });
    }
  });
  return { nodes, edges, width: x - GAP_X + MARGIN, height, engine: "quick" };
}

/** Dagre's layout of `g`, computed in a worker; `cancel` stops it (a new run or page). */
export function dagreLayout(g: GraphInput): { result: Promise<Layout>; cancel: () => void } {
  const worker = new Worker(new URL("./layout-worker.ts", import.meta.url), { type: "module" });
  const result = new Promise<Layout>((resolve, reject) => {
    worker.onmessage = (ev: MessageEvent<LayoutReply>) => {
      const r = ev.data;
      const nodes = new Map<string, NodeBox>();
      for (const [name, x, y] of r.nodes) nodes.set(name, { x, y, w: nodeWidth(name), h: NODE_H });
      resolve({ nodes, edges: r.edges, width: r.width, height: r.height, engine: "dagre" });
      worker.terminate();
    };
    worker.onerror = (ev) => {
      reject(new Error(ev.message));
      worker.terminate();
    };
  });
  const req: LayoutRequest = { ...g, widths: g.names.map(nodeWidth), height: NODE_H };
  worker.postMessage(req);
  return { result, cancel: () => worker.terminate() };
}
