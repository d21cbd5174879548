/**
 * The log panel of a stage: one attempt's log with line numbers (./log-controller.ts does the
 * reading and rendering), a search that highlights its matches in what is shown and steps
 * through them (next/previous, Enter/Shift+Enter), and a search of the whole stored log on the
 * server whose hits open a window around them.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { apiUrl, errorText, getJson } from "../api/client";
import { humanBytes } from "../../../shared/util/bytes";
import { LogController, type LogState } from "./log-controller";

interface SearchHit {
  offset: number;
  line: string;
}

export function LogView(props: { runId: string; stage: string; attempt: number; running: boolean }) {
  const { runId, stage, attempt } = props;
  const pre = useRef<HTMLDivElement>(null);
  const ctl = useRef<LogController | undefined>(undefined);
  const [state, setState] = useState<LogState | undefined>(undefined);
  const [query, setQuery] = useState("");
  const [hits, setHits] = useState<{ q: string; matches: SearchHit[]; more: boolean } | undefined>(undefined);
  const [searchError, setSearchError] = useState("");
  const [timestamps, setTimestamps] = useState(false);
  const base = `runs/${encodeURIComponent(runId)}/stages/${encodeURIComponent(stage)}/log`;

  useEffect(() => {
    const el = pre.current;
    if (el === null || attempt < 1) return;
    const c = new LogController(
      el,
      {
        range: apiUrl(base, { attempt }),
        events: apiUrl(`${base}/events`, { attempt }),
        times: apiUrl(`${base}/times`, { attempt }),
      },
      setState,
      props.running,
    );
    ctl.current = c;
    setHits(undefined);
    return () => c.dispose();
    // Whether it runs only decides how to start; a stage that ends does not restart the view.
  }, [base, attempt]);

  useEffect(() => {
    const t = window.setTimeout(() => ctl.current?.search(query), 150);
    return () => window.clearTimeout(t);
  }, [query]);

  const searchAll = (): void => {
    setSearchError("");
    getJson<{ matches: SearchHit[]; next?: number }>(
      apiUrl(`${base}/search`, { attempt, q: query, limit: 200 }),
    )
      .then((r) => setHits({ q: query, matches: r.matches, more: r.next !== undefined }))
      .catch((err: unknown) => setSearchError(errorText(err)));
  };

  if (attempt < 1) return <p class="muted">The stage has not started: no log yet.</p>;
  const s = state;
  const stored = s?.mode === "stored";
  return (
    <div class="log-panel">
      <div class="log-tools">
        <input
          type="search"
          placeholder="search the log"
          value={query}
          data-testid="log-search"
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => {
            if (e.key === "Enter") ctl.current?.next(e.shiftKey ? -1 : 1);
          }}
        />
        <span class="muted" data-testid="log-hits">
          {query === "" ? "" : `${s?.hits ?? 0} lines shown match`}
        </span>
        <span class="muted" data-testid="log-match-pos">
          {query === "" || s === undefined || s.matches === 0
            ? ""
            : s.currentMatch === 0
              ? `${s.matches} ${s.matches === 1 ? "match" : "matches"}`
              : `${s.currentMatch}/${s.matches}`}
        </span>
        <button
          type="button"
          disabled={query === "" || (s?.matches ?? 0) === 0}
          onClick={() => ctl.current?.previous()}
          title="previous match (Shift+Enter)"
          data-testid="log-prev"
        >
          previous
        </button>
        <button
          type="button"
          disabled={query === "" || (s?.matches ?? 0) === 0}
          onClick={() => ctl.current?.next()}
          title="next match (Enter)"
          data-testid="log-next"
        >
          next
        </button>
        <button
          type="button"
          disabled={query === "" || !stored}
          onClick={searchAll}
          title="search the whole stored log"
        >
          search whole log
        </button>
        <button
          type="button"
          disabled={!stored || (s?.start ?? 0) === 0}
          onClick={() => void ctl.current?.loadEarlier()}
        >
          load earlier
        </button>
        <label title="when each line was written">
          <input
            type="checkbox"
            checked={timestamps}
            data-testid="log-timestamps"
            onChange={(e) => setTimestamps((e.target as HTMLInputElement).checked)}
          />{" "}
          timestamps
        </label>
        {stored ? (
          <a href={apiUrl(base, { attempt, download: 1 })} download data-testid="log-download">
            download raw log
          </a>
        ) : null}
        <span class="muted log-status" data-testid="log-status">
          {s === undefined
            ? ""
            : s.mode === "live"
              ? `live${s.live === "reconnecting" ? " · reconnecting…" : ""}${s.partial ? " · from when this coordinator started" : ""}`
              : s.mode === "waiting"
                ? "waiting for output…"
                : s.mode === "stored"
                  ? `bytes ${humanBytes(s.start)}–${humanBytes(s.end)} of ${humanBytes(s.size ?? s.end)}`
                  : s.mode === "error" || s.mode === "ended"
                    ? s.message
                    : "loading…"}
        </span>
      </div>
      {searchError === "" ? null : <p class="error">{searchError}</p>}
      {hits === undefined ? null : (
        <div class="search-hits" data-testid="search-hits">
          <div class="muted">
            {hits.matches.length} matching lines for “{hits.q}”{hits.more ? " (first 200)" : ""}
          </div>
          {hits.matches.map((m) => (
            <button
              type="button"
              class="hit-line"
              key={m.offset}
              onClick={() => void ctl.current?.jumpTo(m.offset)}
            >
              <span class="muted">@{m.offset}</span> {m.line}
            </button>
          ))}
        </div>
      )}
      <div class={timestamps ? "log ts" : "log"} ref={pre} data-testid="log" />
    </div>
  );
}
