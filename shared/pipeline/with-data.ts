/**
 * A stage's runner-specific `with:` mapping as plain JSON-compatible data (strings, finite
 * numbers, booleans, null, lists, mappings), and the way back from a key path in that data to
 * the YAML node it came from (for positions in schema errors).
 *
 * Aliases and YAML merge keys (`<<: *shared`) are expanded here, so this is where a "billion
 * laughs" document would explode: every node produced counts against the reader's expansion
 * budget (YAML_BOUNDS.maxExpandedNodes for the whole document) and nesting, aliases followed,
 * is held to YAML_BOUNDS.maxDepth. Past either bound the conversion stops with one error.
 */
import { isMap, isScalar, isSeq, type ParsedNode } from "yaml";
import type { YamlReader } from "./yaml-reader.js";

export function isMergeKey(key: unknown): boolean {
  return isScalar(key) && key.source === "<<";
}

/** The YAML node at `path` under `node` (through aliases and merge keys), as far as it exists. */
export function nodeAt(
  r: YamlReader,
  node: ParsedNode | undefined,
  path: ReadonlyArray<string | number>,
): ParsedNode | undefined {
  let cur = r.deref(node);
  for (const [i, k] of path.entries()) {
    if (cur === undefined) return undefined;
    let next: ParsedNode | undefined;
    if (isSeq(cur) && typeof k === "number") next = cur.items[k];
    else if (isMap(cur)) {
      const pair =
        cur.items.find((p) => isScalar(p.key) && p.key.value === k) ??
        cur.items.find((p) => isMergeKey(p.key));
      next = pair?.value ?? undefined;
      if (pair !== undefined && isMergeKey(pair.key)) return nodeAt(r, next, path.slice(i));
    }
    if (next === undefined) return cur;
    cur = r.deref(next);
  }
  return cur;
}

/** Converts `node` (a stage's `with` value) to data; problems are reported on `r`. */
export function readWith(
  r: YamlReader,
  node: ParsedNode | undefined,
  at: ParsedNode,
  where: string,
): unknown {
  return convert(r, node, at, where, 1);
}

function convert(
  r: YamlReader,
  node: ParsedNode | undefined,
  at: ParsedNode,
  where: string,
  depth: number,
): unknown {
  const n = r.deref(node);
  if (n === undefined) return null;
  if (!r.expand(n, depth)) return null;
  if (isMap(n)) {
    // YAML merge keys let stages share runner data; keys written here win.
    const merged: Record<string, unknown> = {};
    for (const pair of n.items) {
      if (!isMergeKey(pair.key)) continue;
      const v = r.deref(pair.value as ParsedNode | undefined);
      const sources = v !== undefined && isSeq(v) ? v.items : [v];
      for (const src of sources) {
        const data = convert(r, src, at, `${where} <<`, depth + 1);
        if (data !== null && typeof data === "object" && !Array.isArray(data)) Object.assign(merged, data);
        else if (!r.expansionExceeded) r.error(src ?? at, `${where}: "<<" merges mappings only`);
      }
    }
    const out: Array<[string, unknown]> = [];
    for (const item of r.entries(n, at, where, isMergeKey) ?? [])
      out.push([item.name, convert(r, item.value, item.key, `${where}.${item.name}`, depth + 1)]);
    return { ...merged, ...Object.fromEntries(out) };
  }
  if (isSeq(n)) return n.items.map((item, i) => convert(r, item, n, `${where}[${i}]`, depth + 1));
  if (isScalar(n)) {
    const v = n.value;
    if (v === null || typeof v === "string" || typeof v === "boolean") return v;
    if (typeof v === "number" && Number.isFinite(v)) return v;
  }
  r.error(
    n,
    `${where}: unsupported value ${r.describe(n)} (use strings, finite numbers, booleans, lists, mappings)`,
  );
  return null;
}
