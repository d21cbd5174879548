/**
 * A pipeline's edits to a releng checkout, as pure functions over a file's text.
 *
 * An edit names one file (a path inside the checkout) and exactly one operation:
 * - `replace: [{from, to}]`: every occurrence of each `from` becomes `to`, in order; a `from`
 *   that does not occur means the edit no longer applies to this checkout.
 * - `replace_line: [{match, with}]`: every line matching the regular expression `match` becomes
 *   `with`; a `match` that matches no line means the edit no longer applies.
 * - `append`: text added at the end (on a line of its own, ending with a newline).
 * - `ensure_line: {line, replacing?, after?}`: makes `line` present, whatever the checkout's
 *   commit: lines matching the regular expression `replacing` become `line`; else, when a line
 *   already equals `line` (blanks around it aside) nothing changes; else `line` is inserted after
 *   the first line matching `after` (none matching: the edit no longer applies), or appended.
 *   This is how one edit states an intent ("rust, not rust-bin, in livecd/unmerge") that
 *   holds for releng commits that differ in how far they already are.
 * - `content`: the whole file, created or replaced.
 * - `remove: true`: the file is deleted.
 * Every operation but `content` needs the file to exist. Errors say which stage, file and edit
 * (1-based) and what did not match, so a releng bump that invalidates an edit is obvious.
 */
import { StagefarmError } from "../errors.js";

export interface RelengEdit {
  file: string;
  replace?: ReadonlyArray<{ from: string; to: string }>;
  replace_line?: ReadonlyArray<{ match: string; with: string }>;
  append?: string;
  ensure_line?: { line: string; replacing?: string; after?: string };
  content?: string;
  remove?: boolean;
}

export const EDIT_OPERATIONS = [
  "replace",
  "replace_line",
  "append",
  "ensure_line",
  "content",
  "remove",
] as const;
export type EditOperation = (typeof EDIT_OPERATIONS)[number];

/** The new state of the file, and a one-line summary for the log. */
export type EditResult = { t: "write"; text: string; summary: string } | { t: "remove"; summary: string };

/** Where an edit sits, for messages: the stage and the edit's index in `releng_edits`. */
export interface EditContext {
  stage: string;
  index: number;
}

/** The operations an edit names (a valid edit names exactly one). */
export function editOperations(edit: RelengEdit): EditOperation[] {
  return EDIT_OPERATIONS.filter((op) => edit[op] !== undefined);
}

function label(edit: RelengEdit, ctx: EditContext): string {
  return `stage "${ctx.stage}" releng edit ${ctx.index + 1} (${edit.file})`;
}

function noLongerApplies(edit: RelengEdit, ctx: EditContext, what: string): StagefarmError {
  return new StagefarmError("invalid_pipeline", `${label(edit, ctx)}: edit no longer applies: ${what}`, {
    details: { stage: ctx.stage, edit: ctx.index + 1, file: edit.file },
  });
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

function show(s: string): string {
  return JSON.stringify(s.length > 120 ? `${s.slice(0, 117)}...` : s);
}

/** Applies one edit to `current` (undefined: the file does not exist). */
export function applyRelengEdit(current: string | undefined, edit: RelengEdit, ctx: EditContext): EditResult {
  const ops = editOperations(edit);
  const [op] = ops;
  if (op === undefined || ops.length > 1)
    throw new StagefarmError(
      "invalid_pipeline",
      `${label(edit, ctx)}: an edit needs exactly one of ${EDIT_OPERATIONS.join(", ")} (got ${ops.length === 0 ? "none" : ops.join(", ")})`,
    );
  if (op === "content") {
    const text = edit.content ?? "";
    return {
      t: "write",
      text,
      summary: `${current === undefined ? "created" : "replaced"} (${text.length} bytes)`,
    };
  }
  if (current === undefined)
    throw noLongerApplies(edit, ctx, `${edit.file} does not exist in the releng checkout`);
  switch (op) {
    case "remove":
      return { t: "remove", summary: "removed" };
    case "append": {
      const add = edit.append ?? "";
      const sep = current === "" || current.endsWith("\n") ? "" : "\n";
      const text = `${current}${sep}${add}${add.endsWith("\n") ? "" : "\n"}`;
      return { t: "write", text, summary: `appended ${add.trimEnd().split("\n").length} line(s)` };
    }
    case "replace": {
      let text = current;
      const done: string[] = [];
      for (const [i, r] of (edit.replace ?? []).entries()) {
        const n = count(text, r.from);
        if (n === 0) throw noLongerApplies(edit, ctx, `replace[${i}]: text not found: ${show(r.from)}`);
        text = text.split(r.from).join(r.to);
        done.push(`${n}×`);
      }
      return { t: "write", text, summary: `replaced ${done.join(", ")}` };
    }
    case "ensure_line":
      return ensureLine(current, edit, ctx);
    case "replace_line": {
      const lines = current.split("\n");
      const done: string[] = [];
      for (const [i, r] of (edit.replace_line ?? []).entries()) {
        const re = compileLineRegex(r.match, edit, ctx, i);
        let n = 0;
        for (const [j, line] of lines.entries()) {
          // The empty string after a final newline is not a line.
          if (j === lines.length - 1 && line === "") continue;
          if (re.test(line)) {
            lines[j] = r.with;
            n++;
          }
        }
        if (n === 0) throw noLongerApplies(edit, ctx, `replace_line[${i}]: no line matches /${r.match}/`);
        done.push(`${n} line(s)`);
      }
      return { t: "write", text: lines.join("\n"), summary: `replaced ${done.join(", ")}` };
    }
  }
}

function compileLineRegex(source: string, edit: RelengEdit, ctx: EditContext, i: number | string): RegExp {
  try {
    return new RegExp(source);
  } catch (err: unknown) {
    throw new StagefarmError(
      "invalid_pipeline",
      `${label(edit, ctx)}: ${typeof i === "number" ? `replace_line[${i}].match` : `ensure_line.${i}`} is not a valid regular expression: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function ensureLine(current: string, edit: RelengEdit, ctx: EditContext): EditResult {
  const spec = edit.ensure_line ?? { line: "" };
  const hadFinalNewline = current.endsWith("\n");
  const lines = current === "" ? [] : (hadFinalNewline ? current.slice(0, -1) : current).split("\n");
  const join = (ls: string[]): string => (ls.length === 0 ? "" : `${ls.join("\n")}\n`);
  if (spec.replacing !== undefined) {
    const re = compileLineRegex(spec.replacing, edit, ctx, "replacing");
    const n = lines.filter((l) => re.test(l)).length;
    const out = lines.map((l) => (re.test(l) ? spec.line : l));
    if (n > 0)
      return { t: "write", text: join(out), summary: `replaced ${n} line(s) with ${show(spec.line)}` };
  }
  if (lines.some((l) => l.trim() === spec.line.trim()))
    return { t: "write", text: current, summary: `${show(spec.line)} already present` };
  if (spec.after !== undefined) {
    const re = compileLineRegex(spec.after, edit, ctx, "after");
    const at = lines.findIndex((l) => re.test(l));
    if (at < 0) throw noLongerApplies(edit, ctx, `ensure_line.after: no line matches /${spec.after}/`);
    lines.splice(at + 1, 0, spec.line);
    return { t: "write", text: join(lines), summary: `inserted ${show(spec.line)} after line ${at + 1}` };
  }
  return { t: "write", text: join([...lines, spec.line]), summary: `appended ${show(spec.line)}` };
}
