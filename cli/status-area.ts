/**
 * A status area at the bottom of a terminal, redrawn in place, with lines printed above it
 * (what `stagefarm run` and `submit --watch` show on a TTY). Cursor movement goes through
 * node:readline's `moveCursor`/`clearScreenDown` rather than escape codes written here; the
 * area's lines are cut to the terminal's width so that each takes one row and the redraw stays
 * exact.
 */
import { clearScreenDown, cursorTo, moveCursor } from "node:readline";
import { stripVTControlCharacters as stripAnsi } from "node:util";

export interface StatusAreaOptions {
  out: NodeJS.WritableStream;
  /** Terminal width (columns); lines of the area are cut to it. */
  columns: () => number;
}

export class StatusArea {
  private lines: string[] = [];
  private height = 0;

  constructor(private readonly opts: StatusAreaOptions) {}

  /** Prints `text` (one or more whole lines) above the area. */
  print(text: string): void {
    this.erase();
    this.opts.out.write(text.endsWith("\n") ? text : `${text}\n`);
    this.draw();
  }

  /** Replaces the area's lines. */
  update(lines: readonly string[]): void {
    this.erase();
    this.lines = [...lines];
    this.draw();
  }

  /** Removes the area (at the end: what was printed above stays). */
  clear(): void {
    this.erase();
    this.lines = [];
  }

  private erase(): void {
    if (this.height === 0) return;
    cursorTo(this.opts.out, 0);
    moveCursor(this.opts.out, 0, -this.height);
    clearScreenDown(this.opts.out);
    this.height = 0;
  }

  private draw(): void {
    if (this.lines.length === 0) return;
    const width = Math.max(20, this.opts.columns() - 1);
    this.opts.out.write(this.lines.map((l) => `${fit(l, width)}\n`).join(""));
    this.height = this.lines.length;
  }
}

/** The line cut to `width` visible columns (a cut line loses its colours: it is dim text). */
function fit(line: string, width: number): string {
  const plain = stripAnsi(line);
  return plain.length <= width ? line : `${plain.slice(0, width - 1)}…`;
}
