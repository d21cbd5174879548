/**
 * Shows one attempt's log in an element, never all of a large one: the stored log is read by
 * byte range (its last {@link WINDOW} bytes, then earlier windows on demand, or a window around
 * a search hit); while the attempt runs its output follows live over server-sent events, and
 * at most {@link MAX_LINES} lines stay on the page. Lines are rendered by ansi_up, which
 * escapes HTML before it adds colour spans: log text never becomes markup.
 *
 * Each line carries its time (`data-ts`, shown by CSS when the page asks for timestamps, so it
 * is not part of the text searched): from the stored log's index (`…/log/times`), or, for live
 * output, when it reached the page.
 * Each line carries its number (`data-n`, shown by CSS, so it is not part of the text
 * searched): counted from the log's first line when what is shown starts at byte 0, otherwise
 * from the first line shown (`+1`, `+2`, …; the title says from which byte). The search marks
 * every match in what is shown (the CSS Custom Highlight API: ranges over the rendered text,
 * the DOM untouched) and steps through them, the current one highlighted and scrolled to.
 */
import { AnsiUp } from "ansi_up";
import { getJson, getLogRange } from "../api/client";
import { LiveStream, type LiveStatus } from "../api/live";
import type { LogChunkJson } from "../api/types";

export const WINDOW = 64 << 10;
const MAX_LINES = 20_000;

export type LogMode = "loading" | "stored" | "live" | "waiting" | "ended" | "error";

export interface LogState {
  mode: LogMode;
  /** Offset of the first byte shown. */
  start: number;
  /** Offset after the last byte shown. */
  end: number;
  /** Size of the stored log, when it is stored. */
  size?: number;
  /** Live output that began before this coordinator saw the attempt start. */
  partial: boolean;
  live: LiveStatus | undefined;
  hits: number;
  /** Matches of the search in what is shown, and the position (1-based, 0: none) stepped to. */
  matches: number;
  currentMatch: number;
  message: string;
}

export interface LogUrls {
  range: string;
  events: string;
  times: string;
}

/** The answer of `…/log/times` (coordinator/dashboard/log-reader.ts readLogTimes). */
interface LogTimesJson {
  indexed: boolean;
  end: number;
  offsets: number[];
  unixMs: number[];
}

/** The time of the line starting at `offset` (the last entry at or before it). */
function timeAt(t: LogTimesJson, offset: number): number | undefined {
  let lo = 0;
  let hi = t.offsets.length - 1;
  let found: number | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((t.offsets[mid] ?? Infinity) <= offset) {
      found = t.unixMs[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export class LogController {
  private readonly decoder = new TextDecoder("utf-8");
  private ansi = new AnsiUp();
  private readonly partialEl: HTMLDivElement;
  private lineBytes: number[] = [];
  private pending: Uint8Array = new Uint8Array(0);
  private stream: LiveStream | undefined;
  private abort = new AbortController();
  private query = "";
  private times: LogTimesJson | undefined;
  /** The matches of the query in what is shown, in document order, and the one stepped to. */
  private matches: Range[] = [];
  private current = -1;
  /** The number of the next complete line, and whether numbers count from the log's start. */
  private nextLine = 1;
  private absolute = false;
  private follow = true;
  private disposed = false;
  state: LogState = {
    mode: "loading",
    start: 0,
    end: 0,
    partial: false,
    live: undefined,
    hits: 0,
    matches: 0,
    currentMatch: 0,
    message: "",
  };

  constructor(
    private readonly el: HTMLElement,
    private readonly urls: LogUrls,
    private readonly onState: (s: LogState) => void,
    /** The attempt is running: follow it live (the stream ends at once if it is over). */
    preferLive = false,
  ) {
    this.partialEl = document.createElement("div");
    this.partialEl.className = "ln partial";
    el.replaceChildren(this.partialEl);
    el.addEventListener("scroll", this.onScroll);
    if (preferLive) this.openLive();
    else void this.loadStored(true);
  }

  private set(patch: Partial<LogState>): void {
    this.state = { ...this.state, ...patch };
    if (!this.disposed) this.onState(this.state);
  }

  private readonly onScroll = (): void => {
    this.follow = this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight < 24;
  };

  /** The line times of stored bytes [from, to); a log stored without an index shows none. */
  private async loadTimes(from: number, to: number): Promise<void> {
    const url = new URL(this.urls.times);
    url.searchParams.set("from", String(from));
    url.searchParams.set("to", String(to));
    this.times = await getJson<LogTimesJson>(url.toString(), this.abort.signal).catch(() => undefined);
  }

  /** The stored log's tail; without one (the attempt still runs), the live stream. */
  private async loadStored(thenLive: boolean): Promise<void> {
    try {
      const r = await getLogRange(this.urls.range, -WINDOW, undefined, this.abort.signal);
      if (this.disposed) return;
      if (r === undefined) {
        if (thenLive) this.openLive();
        else this.set({ mode: "error", message: "the log of this attempt was not stored" });
        return;
      }
      await this.loadTimes(r.start, r.start + r.data.length);
      if (this.disposed) return;
      this.renderWindow(r.start, r.data);
      this.set({ mode: "stored", size: r.size, live: undefined });
      this.scrollToEnd();
    } catch (err: unknown) {
      if (!this.disposed)
        this.set({ mode: "error", message: err instanceof Error ? err.message : String(err) });
    }
  }

  private openLive(): void {
    this.set({ mode: "waiting" });
    this.stream = new LiveStream(
      this.urls.events,
      {
        hello: (d) => {
          const h = d as { start?: number; end?: number; partial?: boolean };
          this.set({ mode: "live", partial: h.partial === true });
        },
        waiting: () => this.set({ mode: "waiting" }),
        log: (d) => {
          const c = d as LogChunkJson;
          const offset = Number(c.offset ?? "0");
          const data = base64Bytes(c.data ?? "");
          if (this.state.end === 0 && this.lineBytes.length === 0 && this.pending.length === 0) {
            this.state = { ...this.state, start: offset, end: offset };
            this.numberFrom(offset);
          } else if (offset !== this.state.end) this.renderWindow(offset, new Uint8Array(0));
          this.append(data);
        },
        gap: (d) => {
          const g = d as { to?: number };
          this.renderWindow(g.to ?? this.state.end, new Uint8Array(0));
        },
        end: (d) => {
          this.stream?.close();
          this.stream = undefined;
          // A cancelled attempt's log may not be stored: keep what came live.
          if ((d as { stored?: boolean }).stored === true) void this.loadStored(false);
          else
            this.set({
              mode: "ended",
              live: undefined,
              message: "the attempt ended; its log was not stored",
            });
        },
        problem: (d) => {
          const p = d as { error?: string };
          this.set({ mode: "error", message: p.error ?? "log stream failed" });
          this.stream?.close();
        },
      },
      (live) => this.set({ live }),
    );
  }

  /** Replaces what is shown by the bytes starting at `start`. */
  private renderWindow(start: number, data: Uint8Array): void {
    this.ansi = new AnsiUp();
    this.lineBytes = [];
    this.pending = new Uint8Array(0);
    this.numberFrom(start);
    const html: string[] = [];
    let from = 0;
    for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, from)) {
      html.push(this.lineHtml(data.subarray(from, i), start + from));
      this.lineBytes.push(i + 1 - from);
      from = i + 1;
    }
    this.pending = data.slice(from);
    this.el.replaceChildren(this.partialEl);
    this.partialEl.insertAdjacentHTML("beforebegin", html.join(""));
    this.partialEl.innerHTML = this.previewHtml();
    this.state = { ...this.state, start, end: start + data.length };
    this.trim();
    // Other lines are shown: stepping starts again from the first match.
    this.current = -1;
    this.applySearch();
  }

  private append(data: Uint8Array): void {
    const all = this.pending.length === 0 ? data : concat(this.pending, data);
    const base = this.state.end - this.pending.length;
    const html: string[] = [];
    let from = 0;
    for (let i = all.indexOf(10); i >= 0; i = all.indexOf(10, from)) {
      html.push(this.lineHtml(all.subarray(from, i), base + from));
      this.lineBytes.push(i + 1 - from);
      from = i + 1;
    }
    this.pending = all.slice(from);
    if (html.length > 0) this.partialEl.insertAdjacentHTML("beforebegin", html.join(""));
    this.partialEl.innerHTML = this.previewHtml();
    this.state = { ...this.state, end: this.state.end + data.length };
    this.trim();
    if (this.query !== "") this.applySearch();
    else this.set({});
    if (this.follow) this.scrollToEnd();
  }

  /** Lines shown from now on start at byte `start`. */
  private numberFrom(start: number): void {
    this.nextLine = 1;
    this.absolute = start === 0;
    this.el.title = this.absolute ? "" : `line numbers count from byte ${start}, the first shown`;
  }

  private lineHtml(bytes: Uint8Array, offset: number): string {
    let text = this.decoder.decode(bytes).replace(/\r$/, "");
    // A carriage return rewrites the line (progress output): show what the terminal would.
    const cr = text.lastIndexOf("\r");
    if (cr >= 0) text = text.slice(cr + 1);
    const t = this.times;
    const ms =
      this.stream !== undefined
        ? Date.now()
        : t?.indexed === true && offset < t.end
          ? timeAt(t, offset)
          : undefined;
    const iso = ms === undefined ? undefined : new Date(ms).toISOString();
    const ts = iso === undefined ? "" : ` data-ts="${iso.slice(11, 23)}" title="${iso}"`;
    const n = this.nextLine++;
    return `<div class="ln" data-n="${this.absolute ? n : `+${n}`}"${ts}>${this.ansi.ansi_to_html(text)}</div>`;
  }

  private previewHtml(): string {
    if (this.pending.length === 0) return "";
    const text = this.decoder.decode(this.pending);
    const cr = text.lastIndexOf("\r");
    // A throwaway converter: the line is rendered again, with the shared state, once complete.
    return new AnsiUp().ansi_to_html(cr >= 0 ? text.slice(cr + 1) : text);
  }

  /** Keeps at most MAX_LINES lines on the page, dropping the oldest. */
  private trim(): void {
    const extra = this.lineBytes.length - MAX_LINES;
    if (extra <= 0) return;
    let bytes = 0;
    for (let i = 0; i < extra; i++) {
      this.el.firstElementChild?.remove();
      bytes += this.lineBytes[i] ?? 0;
    }
    this.lineBytes = this.lineBytes.slice(extra);
    this.state = { ...this.state, start: this.state.start + bytes };
  }

  private scrollToEnd(): void {
    this.el.scrollTop = this.el.scrollHeight;
  }

  /** Shows the window before the current one, plus what is shown now (up to 2 windows). */
  async loadEarlier(): Promise<void> {
    if (this.state.start <= 0 || this.stream !== undefined) return;
    await this.guard(() => this.readEarlier());
  }

  private async readEarlier(): Promise<void> {
    const from = Math.max(0, this.state.start - WINDOW);
    const r = await getLogRange(
      this.urls.range,
      from,
      Math.min(this.state.end, from + 2 * WINDOW),
      this.abort.signal,
    );
    if (r === undefined || this.disposed) return;
    await this.loadTimes(r.start, r.start + r.data.length);
    if (this.disposed) return;
    const top = this.el.scrollHeight - this.el.scrollTop;
    this.renderWindow(r.start, r.data);
    this.set({ size: r.size });
    this.el.scrollTop = this.el.scrollHeight - top;
  }

  /** Shows a window around `offset` (a search hit in the stored log) and marks its line. */
  async jumpTo(offset: number): Promise<void> {
    await this.guard(() => this.readAround(offset));
  }

  private async readAround(offset: number): Promise<void> {
    this.stream?.close();
    this.stream = undefined;
    const from = Math.max(0, offset - WINDOW / 2);
    const r = await getLogRange(this.urls.range, from, offset + WINDOW / 2, this.abort.signal);
    if (r === undefined || this.disposed) return;
    await this.loadTimes(r.start, r.start + r.data.length);
    if (this.disposed) return;
    this.renderWindow(r.start, r.data);
    this.set({ mode: "stored", size: r.size, live: undefined });
    let at = r.start;
    let line = 0;
    // The first line may be cut at the window's start: it only counts once it ends after `at`.
    while (line < this.lineBytes.length && at + (this.lineBytes[line] ?? 0) <= offset)
      at += this.lineBytes[line++] ?? 0;
    const el = this.el.children[line];
    if (el instanceof HTMLElement) {
      el.classList.add("jump");
      el.scrollIntoView({ block: "center" });
    }
    this.follow = false;
  }

  /** Runs a read the user asked for; a failure shows in the log's status, never escapes. */
  private async guard(read: () => Promise<void>): Promise<void> {
    try {
      await read();
    } catch (err: unknown) {
      if (!this.disposed && !this.abort.signal.aborted)
        this.set({ mode: "error", message: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Marks the lines containing `q` (case-insensitive) and its matches; returns the lines' count. */
  search(q: string): number {
    this.query = q;
    this.current = -1;
    return this.applySearch();
  }

  private applySearch(): number {
    const re =
      this.query === "" ? undefined : new RegExp(this.query.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "giu");
    let hits = 0;
    this.matches = [];
    for (const el of Array.from(this.el.children)) {
      const found = re === undefined ? [] : matchRanges(el, re);
      el.classList.toggle("hit", found.length > 0);
      el.classList.remove("current");
      if (found.length > 0) hits++;
      this.matches.push(...found);
    }
    // Live output appended to the view keeps the match stepped to, when it is still there.
    if (this.current >= this.matches.length) this.current = -1;
    this.showMatches();
    this.set({ hits, matches: this.matches.length, currentMatch: this.current + 1 });
    return hits;
  }

  /** Registers the highlights (where the browser has the API; the line classes work without). */
  private showMatches(): void {
    const cur = this.matches[this.current];
    lineOf(cur)?.classList.add("current");
    const registry = typeof CSS !== "undefined" ? CSS.highlights : undefined;
    if (registry === undefined) return;
    registry.set("log-match", new Highlight(...this.matches));
    registry.set("log-current", cur === undefined ? new Highlight() : new Highlight(cur));
  }

  /** Steps to the next match (`-1`: the previous one), wrapping around, and scrolls to it. */
  next(step: 1 | -1 = 1): void {
    const n = this.matches.length;
    if (n === 0) return;
    lineOf(this.matches[this.current])?.classList.remove("current");
    this.current = this.current < 0 ? (step > 0 ? 0 : n - 1) : (this.current + step + n) % n;
    this.showMatches();
    lineOf(this.matches[this.current])?.scrollIntoView({ block: "center" });
    this.follow = false;
    this.set({ currentMatch: this.current + 1 });
  }

  previous(): void {
    this.next(-1);
  }

  dispose(): void {
    this.disposed = true;
    if (typeof CSS !== "undefined" && CSS.highlights !== undefined) {
      CSS.highlights.delete("log-match");
      CSS.highlights.delete("log-current");
    }
    this.abort.abort();
    this.stream?.close();
    this.el.removeEventListener("scroll", this.onScroll);
  }
}

/** The line element a match is in. */
function lineOf(r: Range | undefined): HTMLElement | undefined {
  const node = r?.startContainer;
  const el = node instanceof HTMLElement ? node : node?.parentElement;
  return el?.closest<HTMLElement>(".ln") ?? undefined;
}

/** Ranges of `re`'s matches in the text of `el` (which may be split over ANSI colour spans). */
function matchRanges(el: Element, re: RegExp): Range[] {
  const nodes: { node: Text; start: number }[] = [];
  let text = "";
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n !== null; n = walker.nextNode())
    if (n instanceof Text) {
      nodes.push({ node: n, start: text.length });
      text += n.data;
    }
  const at = (i: number): { node: Text; offset: number } | undefined => {
    let lo = 0;
    let hi = nodes.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((nodes[mid]?.start ?? 0) <= i) lo = mid;
      else hi = mid - 1;
    }
    const hit = nodes[lo];
    return hit === undefined ? undefined : { node: hit.node, offset: i - hit.start };
  };
  const out: Range[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const from = at(m.index);
    const to = at(m.index + m[0].length - 1);
    if (from === undefined || to === undefined) break;
    const r = document.createRange();
    r.setStart(from.node, from.offset);
    r.setEnd(to.node, to.offset + 1);
    out.push(r);
  }
  return out;
}
