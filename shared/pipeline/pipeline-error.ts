/**
 * Pipeline validation errors, reported like a compiler: every issue found in one pass, sorted by
 * position, one line each (`file:line:col: error: message`).
 *
 * A file that is not a pipeline at all (a password database read by mistake) would make one
 * issue per line, each naming what it found: so a message lists at most MAX_REPORTED_ISSUES
 * issues (then "and N more"), and each line is escaped and cut by `excerpt` on the way out,
 * whatever the code that made it put in.
 */
import { StagefarmError } from "../errors.js";
import { excerpt } from "../util/excerpt.js";
import type { SourcePos } from "./types.js";

/** Issues shown in a message and in `details.issues`; the rest are counted. */
export const MAX_REPORTED_ISSUES = 20;
/** Longest message of one issue (code points), after escaping. */
const MAX_ISSUE_CHARS = 400;

export interface PipelineIssue {
  pos: SourcePos;
  message: string;
}

/** Orders issues by file, line, column, then message, dropping exact repeats. */
export function sortIssues(issues: readonly PipelineIssue[]): PipelineIssue[] {
  const unique = new Map(issues.map((i) => [formatIssue(i), i]));
  return [...unique.values()].sort(
    (a, b) =>
      a.pos.file.localeCompare(b.pos.file) ||
      a.pos.line - b.pos.line ||
      a.pos.col - b.pos.col ||
      a.message.localeCompare(b.message),
  );
}

export function formatIssue(issue: PipelineIssue): string {
  return `${excerpt(issue.pos.file, 200)}:${issue.pos.line}:${issue.pos.col}: error: ${excerpt(issue.message, MAX_ISSUE_CHARS)}`;
}

function moreLine(more: number): string {
  return `… and ${more} more problem${more === 1 ? "" : "s"} (the first ${MAX_REPORTED_ISSUES} are shown)`;
}

/** A pipeline file is malformed or inconsistent. `issues` holds every problem found, sorted. */
export class PipelineError extends StagefarmError {
  readonly issues: readonly PipelineIssue[];

  constructor(issues: readonly PipelineIssue[]) {
    const sorted = sortIssues(issues);
    const shown = sorted.slice(0, MAX_REPORTED_ISSUES);
    const more = sorted.length - shown.length;
    super("invalid_pipeline", [...shown.map(formatIssue), ...(more > 0 ? [moreLine(more)] : [])].join("\n"), {
      details: {
        issues: shown.map((i) => ({
          ...i.pos,
          file: excerpt(i.pos.file, 200),
          message: excerpt(i.message, MAX_ISSUE_CHARS),
        })),
        ...(more > 0 ? { moreIssues: more } : {}),
      },
    });
    this.name = "PipelineError";
    this.issues = sorted;
  }
}
