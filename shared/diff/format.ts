/**
 * The human report of `stagefarm diff`: a summary first ("3 packages differ:
 * dev-lang/python-3.12.8 (12 files: .pyc timestamps), …"), then each package with its vdb
 * changes and paths, then the paths no package owns. Names come from the trees, so every
 * path and value is escaped and bounded (shared/util/excerpt.ts).
 */
import { excerpt } from "../util/excerpt.js";
import { NOISE, type NoiseId } from "./noise.js";
import type { AttributeDiff, DiffReport, PackageGroup, PathChange } from "./types.js";

export interface FormatStyle {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
}

const plain: FormatStyle = { bold: id, dim: id, red: id, green: id, yellow: id };

function id(s: string): string {
  return s;
}

/** Lists this many paths per group; `--json` has them all. */
const MAX_PATHS_PER_GROUP = 200;

export function formatReport(r: DiffReport, c: FormatStyle = plain): string {
  const out: string[] = [
    `A: ${excerpt(r.a, 200)} (${r.entries.a} entries)`,
    `B: ${excerpt(r.b, 200)} (${r.entries.b} entries)`,
    summaryLine(r),
  ];
  const noise = normalizedLine(r.normalized);
  if (noise !== undefined) out.push(c.dim(noise));
  for (const g of r.packages) out.push("", ...groupLines(g, c));
  if (r.unowned.changes.length > 0) out.push("", ...groupLines(r.unowned, c));
  return `${out.join("\n")}\n`;
}

export function summaryLine(r: DiffReport): string {
  if (r.identical) return `identical: reproducible${r.normalize ? " (with --normalize)" : ""}`;
  const parts: string[] = [];
  if (r.packages.length > 0)
    parts.push(
      `${r.packages.length} ${r.packages.length === 1 ? "package differs" : "packages differ"}: ${r.packages.map((g) => `${groupName(g)} (${groupBrief(g)})`).join(", ")}`,
    );
  const n = r.unowned.changes.length;
  if (n > 0)
    parts.push(
      `${n} ${n === 1 ? "path" : "paths"} owned by no package (${[...new Set(r.unowned.changes.flatMap(changeLabels))].join(", ")})`,
    );
  return parts.join("; ");
}

function normalizedLine(n: Partial<Record<NoiseId, number>>): string | undefined {
  const parts = Object.entries(n).map(([k, v]) => `${v} ${NOISE[k as NoiseId].label}`);
  return parts.length === 0 ? undefined : `normalized away (noise only): ${parts.join(", ")}`;
}

function groupName(g: PackageGroup): string {
  if (g.key === undefined) return "owned by no package";
  const a = g.cpvA;
  const b = g.cpvB;
  const name =
    a === undefined ? (b ?? g.key) : b === undefined || a === b ? a : `${a} → ${b.slice(b.indexOf("/") + 1)}`;
  return excerpt(name, 160);
}

/** "12 files: .pyc timestamps, mtimes" / "USE". */
function groupBrief(g: PackageGroup): string {
  const labels = new Set<string>();
  for (const ch of g.changes) for (const l of changeLabels(ch)) labels.add(l);
  const vdb = g.vdb.map((v) =>
    v.field === "presence" ? (v.a.startsWith("(") ? "new package" : "removed package") : v.field,
  );
  const files = g.changes.length;
  const noun = g.key === undefined ? ["path", "paths"] : ["file", "files"];
  const head = files === 0 ? [] : [`${files} ${files === 1 ? noun[0] : noun[1]}: ${[...labels].join(", ")}`];
  return [...head, ...vdb].join("; ");
}

function changeLabels(ch: PathChange): string[] {
  if (ch.t === "only-a") return ["only in A"];
  if (ch.t === "only-b") return ["only in B"];
  return ch.diffs.map(diffLabel);
}

function diffLabel(d: AttributeDiff): string {
  return d.noise === undefined ? d.attr : NOISE[d.noise].label;
}

function groupLines(g: PackageGroup, c: FormatStyle): string[] {
  const lines = [c.bold(`${groupName(g)}  (${groupBrief(g)})`)];
  for (const v of g.vdb) lines.push(`  vdb ${v.field}: ${show(v.a)} → ${show(v.b)}`);
  for (const ch of g.changes.slice(0, MAX_PATHS_PER_GROUP)) lines.push(changeLine(ch, c));
  const more = g.changes.length - MAX_PATHS_PER_GROUP;
  if (more > 0) lines.push(c.dim(`  … and ${more} more (--json lists every path)`));
  return lines;
}

function changeLine(ch: PathChange, c: FormatStyle): string {
  const path = excerpt(ch.path, 300);
  if (ch.t === "only-a") return c.red(`  - ${path}  (${ch.a}, only in A)`);
  if (ch.t === "only-b") return c.green(`  + ${path}  (${ch.b}, only in B)`);
  const what = ch.diffs.map((d) => {
    const detail =
      d.attr === "content" ? `${d.a.slice(0, 12)} → ${d.b.slice(0, 12)}` : `${show(d.a)} → ${show(d.b)}`;
    const text = `${d.attr} ${detail}`;
    return d.noise === undefined ? text : c.dim(`${text} [${NOISE[d.noise].label}]`);
  });
  return `${c.yellow("  ~")} ${path}: ${what.join("; ")}`;
}

function show(v: string): string {
  return v === "" ? "(none)" : excerpt(v, 120);
}
