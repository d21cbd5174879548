/**
 * Pipeline validation errors, reported like a compiler: every issue found in one pass, sorted by
 * position, one line each (`file:line:col: error: message`).
 */
import { StagefarmError } from "../errors.js";
import type { SourcePos } from "./types.js";

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
  return `${issue.pos.file}:${issue.pos.line}:${issue.pos.col}: error: ${issue.message}`;
}

/** A pipeline file is malformed or inconsistent. `issues` holds every problem found, sorted. */
export class PipelineError extends StagefarmError {
  readonly issues: readonly PipelineIssue[];

  constructor(issues: readonly PipelineIssue[]) {
    const sorted = sortIssues(issues);
    super("invalid_pipeline", sorted.map(formatIssue).join("\n"), {
      details: { issues: sorted.map((i) => ({ ...i.pos, message: i.message })) },
    });
    this.name = "PipelineError";
    this.issues = sorted;
  }
}
