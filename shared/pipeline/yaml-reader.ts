/**
 * A typed walker over a parsed YAML document that records issues with 1-based positions instead
 * of throwing, so one pass reports every problem. Values are read field by field; each reader
 * reports a wrong type ("expected a string, got a mapping") at the offending node.
 */
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type Alias,
  type Document,
  type LineCounter,
  type ParsedNode,
} from "yaml";
import { quoted } from "../util/excerpt.js";
import { anchorTargets, YAML_BOUNDS, type YamlBounds } from "../yaml/index.js";
import type { PipelineIssue } from "./pipeline-error.js";
import { reservedKeyProblem } from "./rules.js";
import { didYouMean } from "./suggest.js";
import type { SourcePos } from "./types.js";

/** A key/value pair of a mapping; `value` is undefined for `key:` with nothing after it. */
export interface Entry {
  name: string;
  key: ParsedNode;
  value: ParsedNode | undefined;
}

export type Fields = Map<string, Entry>;

export class YamlReader {
  readonly issues: PipelineIssue[] = [];
  /** Nodes produced so far by converting data with aliases expanded (see with-data.ts). */
  private expanded = 0;
  /** Whether a bound of {@link expand} was hit (reported once; conversion stops). */
  expansionExceeded = false;
  /** What each alias names, found in one pass on first use (see anchorTargets). */
  private anchors: Map<Alias, ParsedNode> | undefined;

  constructor(
    readonly file: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    private readonly bounds: YamlBounds = YAML_BOUNDS,
  ) {}

  /**
   * Counts one node produced at nesting `depth` (aliases followed) against the document's
   * expansion budget; false, reported once at `node`, when a bound is passed.
   */
  expand(node: ParsedNode, depth: number): boolean {
    if (this.expansionExceeded) return false;
    this.expanded += 1;
    const { maxExpandedNodes, maxDepth } = this.bounds;
    const problem =
      this.expanded > maxExpandedNodes
        ? `with aliases and merge keys expanded, the data has more than ${maxExpandedNodes} values (the alias expansion limit); share less through aliases`
        : depth > maxDepth
          ? `with aliases expanded, the data nests more than ${maxDepth} levels deep (the nesting depth limit)`
          : undefined;
    if (problem === undefined) return true;
    this.expansionExceeded = true;
    this.error(node, problem);
    return false;
  }

  pos(at: ParsedNode | number): SourcePos {
    const offset = typeof at === "number" ? at : at.range[0];
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line: Math.max(line, 1), col: Math.max(col, 1) };
  }

  error(at: ParsedNode | number, message: string): void {
    this.issues.push({ pos: this.pos(at), message });
  }

  errorAt(pos: SourcePos, message: string): void {
    this.issues.push({ pos, message });
  }

  /** Follows aliases (`*name`) to the anchored node; reports unknown anchors. */
  deref(node: ParsedNode | undefined): ParsedNode | undefined {
    if (node === undefined || !isAlias(node)) return node;
    this.anchors ??= anchorTargets(this.doc);
    const target = this.anchors.get(node);
    if (target === undefined) {
      this.error(node, `unknown alias "*${node.source}"`);
      return undefined;
    }
    return target;
  }

  /** "a mapping", "a sequence", "a string", "a number", "a boolean" or "null". */
  describe(node: ParsedNode | undefined): string {
    const n = this.deref(node);
    if (n === undefined) return "null";
    if (isMap(n)) return "a mapping";
    if (isSeq(n)) return "a sequence";
    if (isScalar(n)) {
      if (n.value === null || n.value === undefined) return "null";
      if (typeof n.value === "string") return "a string";
      if (typeof n.value === "number" || typeof n.value === "bigint") return "a number";
      if (typeof n.value === "boolean") return "a boolean";
    }
    return "an unsupported value";
  }

  private wrongType(node: ParsedNode | undefined, at: ParsedNode, where: string, expected: string): void {
    // An empty value (`key:` with nothing after it) is reported at its key.
    const empty = node === undefined || node.range[0] === node.range[1];
    this.error(empty ? at : node, `${where}: expected ${expected}, got ${this.describe(node)}`);
  }

  /**
   * The entries of a mapping in file order (less those whose key `skip` picks), or undefined
   * (reported) if it is not a mapping. Duplicate keys and reserved keys (rules.ts) are
   * reported; a reserved key's entry is left out.
   */
  entries(
    node: ParsedNode | undefined,
    at: ParsedNode,
    where: string,
    skip?: (key: unknown) => boolean,
  ): Entry[] | undefined {
    const n = this.deref(node);
    if (n === undefined || !isMap(n)) {
      this.wrongType(n, at, where, "a mapping");
      return undefined;
    }
    const out: Entry[] = [];
    const seen = new Set<string>();
    for (const pair of n.items) {
      if (skip?.(pair.key) === true) continue;
      const key = this.deref(pair.key);
      if (key === undefined || !isScalar(key) || typeof key.value !== "string") {
        this.error(pair.key, `${where}: keys must be strings, got ${this.describe(pair.key)}`);
        continue;
      }
      // Duplicates are found here, with a set (yaml's own check is quadratic in a mapping's size).
      if (seen.has(key.value)) this.error(key, `duplicate key ${quoted(key.value)}`);
      seen.add(key.value);
      const reserved = reservedKeyProblem(key.value);
      if (reserved !== undefined) {
        this.error(key, `${where}: ${reserved}`);
        continue;
      }
      out.push({ name: key.value, key, value: pair.value ?? undefined });
    }
    return out;
  }

  /** Reads a mapping with a fixed set of keys; reports unknown keys (with a suggestion). */
  fields(node: ParsedNode | undefined, at: ParsedNode, where: string, allowed: readonly string[]): Fields {
    const out: Fields = new Map();
    for (const e of this.entries(node, at, where) ?? []) {
      if (allowed.includes(e.name)) out.set(e.name, e);
      else this.error(e.key, `${where}: unknown key ${quoted(e.name, 60)}${didYouMean(e.name, allowed)}`);
    }
    return out;
  }

  /** Reports `missing required field` at `at` when `name` is absent. */
  require(fields: Fields, name: string, at: ParsedNode, where: string): Entry | undefined {
    const e = fields.get(name);
    if (e === undefined) this.error(at, `${where}: missing required field "${name}"`);
    return e;
  }

  /**
   * A string. With `scalars`, plain numbers and booleans are accepted as the text written
   * (`JOBS: 04` reads as "04"), which is what a user means in env values and param defaults.
   */
  string(node: ParsedNode | undefined, at: ParsedNode, where: string, scalars = false): string | undefined {
    const n = this.deref(node);
    if (n !== undefined && isScalar(n)) {
      if (typeof n.value === "string") return n.value;
      const plain = typeof n.value === "number" || typeof n.value === "boolean";
      if (scalars && plain && typeof n.source === "string") return n.source;
    }
    this.wrongType(n, at, where, "a string");
    return undefined;
  }

  boolean(node: ParsedNode | undefined, at: ParsedNode, where: string): boolean | undefined {
    const n = this.deref(node);
    if (n !== undefined && isScalar(n) && typeof n.value === "boolean") return n.value;
    this.wrongType(n, at, where, "true or false");
    return undefined;
  }

  /** A non-negative integer. */
  count(node: ParsedNode | undefined, at: ParsedNode, where: string): number | undefined {
    const n = this.deref(node);
    if (n !== undefined && isScalar(n) && typeof n.value === "number") {
      if (Number.isInteger(n.value) && n.value >= 0) return n.value;
      this.error(n, `${where}: expected a whole number >= 0, got ${n.value}`);
      return undefined;
    }
    this.wrongType(n, at, where, "a whole number");
    return undefined;
  }

  /** A list of strings. */
  strings(node: ParsedNode | undefined, at: ParsedNode, where: string): string[] | undefined {
    const n = this.deref(node);
    if (n === undefined || !isSeq(n)) {
      this.wrongType(n, at, where, "a list of strings");
      return undefined;
    }
    const out: string[] = [];
    n.items.forEach((item, i) => {
      const s = this.string(item, n, `${where}[${i}]`);
      if (s !== undefined) out.push(s);
    });
    return out;
  }

  /** Visits every scalar string value (not keys) under `node`, following no aliases. */
  eachString(node: ParsedNode | undefined, fn: (s: string, node: ParsedNode) => void): void {
    if (node === undefined) return;
    if (isScalar(node)) {
      if (typeof node.value === "string") fn(node.value, node);
    } else if (isSeq(node)) {
      for (const item of node.items) this.eachString(item, fn);
    } else if (isMap(node)) {
      for (const pair of node.items) this.eachString(pair.value ?? undefined, fn);
    }
  }
}
