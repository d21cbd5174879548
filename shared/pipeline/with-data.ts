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
import { YAML_BOUNDS } from "../yaml/index.js";
import type { YamlReader } from "./yaml-reader.js";

export function isMergeKey(key: unknown): boolean {
  return isScalar(key) && key.source === "<<";
}

/**
 * The YAML node at `path` under `node` (through aliases and merge keys), as far as it exists.
 * Merge keys are followed at most YAML_BOUNDS.maxDepth times: a mapping that merges itself
 * (`&w { <<: *w }`) ends the walk instead of recursing forever.
 */
export function nodeAt(
  r: YamlReader,
  node: ParsedNode | undefined,
  path: ReadonlyArray<string | number>,
): ParsedNode | undefined {
  let cur = r.deref(node);
  let merges = 0;
  for (let i = 0; i < path.length && cur !== undefined;) {
    const k = path[i];
    let next: ParsedNode | undefined;
    if (isSeq(cur) && typeof k === "number") next = cur.items[k];
    else if (isMap(cur)) {
      const own = cur.items.find((p) => !isMergeKey(p.key) && isScalar(p.key) && p.key.value === k);
      const merge = own === undefined ? cur.items.find((p) => isMergeKey(p.key)) : undefined;
      if (merge !== undefined && merges < YAML_BOUNDS.maxDepth) {
        // The key comes from a merged mapping: look in the (first) one merged.
        merges += 1;
        const source = r.deref(merge.value ?? undefined);
        const first = source !== undefined && isSeq(source) ? r.deref(source.items[0]) : source;
        if (first === undefined || first === cur) return cur;
        cur = first;
        continue;
      }
      next = own?.value ?? undefined;
    }
    if (next === undefined) return cur;
    cur = r.deref(next);
    i += 1;
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
