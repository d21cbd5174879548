/**
 * The bounds every YAML document read by stagefarm is held to (a pipeline, the coordinator's
 * auth file, any config), checked on yaml's concrete syntax tree before any node is composed,
 * so a hostile document costs time and memory in proportion to its size and never more:
 *
 * - size: at most `maxBytes` of UTF-8;
 * - nesting: at most `maxDepth` collections inside each other (composing and converting are
 *   recursive: deeper input would end in "Maximum call stack size exceeded");
 * - keys: at most `maxMappingKeys` in one mapping and `maxKeys` in the whole document;
 * - aliases: converting a node to data expands at most `maxExpandedNodes` nodes (an alias or a
 *   merge key `<<` counts the nodes it copies each time it is used: a "billion laughs" document
 *   of a few hundred bytes would otherwise expand to millions of values).
 *
 * The CST is walked with an explicit stack (no recursion), once, in linear time.
 */
import type { CST } from "yaml";

export interface YamlBounds {
  readonly maxBytes: number;
  readonly maxDepth: number;
  readonly maxMappingKeys: number;
  readonly maxKeys: number;
  readonly maxExpandedNodes: number;
}

/**
 * The defaults. The shipped pipelines are far inside each: gentoo-bootstrap is 96 KiB with
 * 1604 keys, 311 of them in its largest mapping (the distfiles), nesting depth 7;
 * catalyst-release nests 9 deep.
 *
 * Size and keys scale together: a generated pipeline of 10,000 stages (bench/scale.ts: fan-out
 * and fan-in, two inputs each) is 1.9 MB with ~120,000 keys, 10,000 of them in `stages:`. The
 * limits leave it 2× headroom (20,000 such stages): 4 MiB, 64,000 keys per MiB (256,000), and
 * 40,000 keys in one mapping. The bounds stay what makes a hostile document cheap: every check
 * is one linear pass over the CST before anything is composed, so the worst a document can
 * cost is proportional to 4 MiB (a coordinator parses submissions in a worker with its own
 * deadline and heap: coordinator/submission/), and alias expansion, which is not proportional
 * to size, keeps its own fixed budget.
 */
export const YAML_BOUNDS: YamlBounds = {
  maxBytes: 4 << 20,
  maxDepth: 64,
  maxMappingKeys: 40_000,
  maxKeys: 256_000,
  maxExpandedNodes: 100_000,
} as const;

/** Where a document breaks a bound (an offset into the text, in UTF-16 code units) and why. */
export interface BoundsProblem {
  offset: number;
  message: string;
}

/** Why a text of this size is refused, or undefined. Costs one pass over the text. */
export function sizeProblem(text: string, bounds: YamlBounds = YAML_BOUNDS): BoundsProblem | undefined {
  if (text.length <= bounds.maxBytes / 3) return undefined; // at most 3 UTF-8 bytes per code unit
  const bytes = Buffer.byteLength(text, "utf8");
  return bytes > bounds.maxBytes ? { offset: 0, message: tooLarge(bytes, bounds.maxBytes) } : undefined;
}

function tooLarge(bytes: number, maxBytes: number): string {
  return `the document is ${bytes} bytes, more than the limit of ${maxBytes} bytes (${maxBytes >> 10} KiB)`;
}

interface Frame {
  token: CST.Token;
  depth: number;
}

function children(token: CST.Token): CST.Token[] {
  switch (token.type) {
    case "document":
      return token.value === undefined ? [] : [token.value];
    case "block-map":
    case "block-seq":
    case "flow-collection": {
      const out: CST.Token[] = [];
      for (const item of token.items) {
        if (item.key !== undefined && item.key !== null) out.push(item.key);
        if (item.value !== undefined) out.push(item.value);
      }
      return out;
    }
    default:
      return [];
  }
}

/** Number of keys a collection token holds (0 for sequences). */
function keysOf(token: CST.Token): number {
  if (token.type === "block-map") return token.items.length;
  if (token.type === "flow-collection" && token.start.source === "{") return token.items.length;
  return 0;
}

/** Offset of the `n`th item of a collection (for naming the first key past a limit). */
function itemOffset(token: CST.BlockMap | CST.FlowCollection, n: number): number {
  const item = token.items[n];
  return item?.key?.offset ?? item?.value?.offset ?? item?.start[0]?.offset ?? token.offset;
}

/** The first bound the parsed tokens break, walking them without recursion. */
export function structureProblem(
  tokens: readonly CST.Token[],
  bounds: YamlBounds = YAML_BOUNDS,
): BoundsProblem | undefined {
  // Children are pushed in reverse so the walk, and the problem it reports, follow file order.
  const stack: Frame[] = tokens.map((token) => ({ token, depth: 0 })).reverse();
  let total = 0;
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const { token } = frame;
    const collection =
      token.type === "block-map" || token.type === "block-seq" || token.type === "flow-collection";
    const depth = collection ? frame.depth + 1 : frame.depth;
    if (depth > bounds.maxDepth)
      return {
        offset: token.offset,
        message: `the document nests collections more than ${bounds.maxDepth} levels deep (the nesting depth limit)`,
      };
    const keys = keysOf(token);
    if (keys > 0 && (token.type === "block-map" || token.type === "flow-collection")) {
      if (keys > bounds.maxMappingKeys)
        return {
          offset: itemOffset(token, bounds.maxMappingKeys),
          message: `a mapping has ${keys} keys, more than the limit of ${bounds.maxMappingKeys} keys per mapping`,
        };
      if (total + keys > bounds.maxKeys)
        return {
          offset: itemOffset(token, bounds.maxKeys - total),
          message: `the document has more than ${bounds.maxKeys} keys in all (the limit of keys per document)`,
        };
      total += keys;
    }
    for (const child of children(token).reverse()) stack.push({ token: child, depth });
  }
  return undefined;
}
