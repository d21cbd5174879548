/**
 * The runs: status, pipeline, params, start, duration and progress, newest first, filtered by
 * status and pipeline; kept current by the global event stream (run summaries). "New run"
 * (./new-run.tsx) starts one.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { apiUrl, errorText, getJson } from "../api/client";
import { LiveStream, type LiveStatus } from "../api/live";
import { runOf, type Run, type RunEventJson, type RunJson } from "../api/types";
import { ConnPill, Progress, StatusBadge } from "../components/progress";
import { fmtDuration, fmtTime } from "../format";
import { runHref, runsHref } from "../router";
import { NewRun } from "./new-run";

const STATUSES = ["", "running", "succeeded", "failed", "cancelled"];

export function RunsPage(props: { status: string; pipeline: string }) {
  const { status, pipeline } = props;
  const [runs, setRuns] = useState<Run[] | undefined>(undefined);
  const [next, setNext] = useState("");
  const [error, setError] = useState("");
  const [conn, setConn] = useState<LiveStatus | undefined>(undefined);
  const [now, setNow] = useState(Date.now());
  const [pipelines, setPipelines] = useState<string[]>([]);
  const filter = useRef({ status, pipeline });
  filter.current = { status, pipeline };

  const load = (token = ""): void => {
    const f = filter.current;
    getJson<{ runs?: RunJson[]; nextPageToken?: string }>(
      apiUrl("runs", { status: f.status, pipeline: f.pipeline, pageSize: 50, pageToken: token }),
    )
      .then((r) => {
        const page = (r.runs ?? []).map(runOf);
        setRuns((prev) => (token === "" ? page : [...(prev ?? []), ...page]));
        setNext(r.nextPageToken ?? "");
        setPipelines((prev) => [...new Set([...prev, ...page.map((x) => x.pipeline)])].sort());
        setError("");
      })
      .catch((err: unknown) => setError(errorText(err)));
  };

  useEffect(() => load(), [status, pipeline]);

  useEffect(() => {
    const stream = new LiveStream(
      apiUrl("events"),
      {
        hello: (d) => {
          if ((d as { resumed?: boolean }).resumed !== true) load();
        },
        run: (d) => {
          const j = (d as RunEventJson).run;
          if (j === undefined) return;
          const r = runOf(j);
          const f = filter.current;
          const matches =
            (f.status === "" || r.status === f.status) && (f.pipeline === "" || r.pipeline === f.pipeline);
          setRuns((prev) => {
            if (prev === undefined) return prev;
            const i = prev.findIndex((x) => x.id === r.id);
            if (i >= 0)
              return matches ? prev.map((x, k) => (k === i ? r : x)) : prev.filter((_, k) => k !== i);
            return matches ? [r, ...prev] : prev;
          });
        },
      },
      setConn,
    );
    const t = window.setInterval(() => setNow(Date.now()), 1000);
    return () => {
      stream.close();
      window.clearInterval(t);
    };
    // The stream stays open across filter changes; `filter` holds the current ones.
  }, []);

  return (
    <div class="page">
      <header class="page-head">
        <h1>Runs</h1>
        <label>
          status{" "}
          <select
            value={status}
            data-testid="status-filter"
            onChange={(e) => (location.hash = runsHref((e.target as HTMLSelectElement).value, pipeline))}
          >
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s === "" ? "any" : s}
              </option>
            ))}
          </select>
        </label>
        <label>
          pipeline{" "}
          <input
            list="pipelines"
            value={pipeline}
            placeholder="any"
            data-testid="pipeline-filter"
            onChange={(e) => (location.hash = runsHref(status, (e.target as HTMLInputElement).value.trim()))}
          />
          <datalist id="pipelines">
            {pipelines.map((p) => (
              <option key={p} value={p} />
            ))}
          </datalist>
        </label>
        <span class="spacer" />
        <ConnPill status={conn} />
      </header>
      <NewRun />
      {error === "" ? null : <p class="error">{error}</p>}
      {runs === undefined ? (
        <p class="muted">Loading…</p>
      ) : runs.length === 0 ? (
        <p class="muted">No runs{status !== "" || pipeline !== "" ? " match these filters" : " yet"}.</p>
      ) : (
        <table class="grid runs" data-testid="runs">
          <thead>
            <tr>
              <th>status</th>
              <th>pipeline</th>
              <th>run</th>
              <th>params</th>
              <th>started</th>
              <th>duration</th>
              <th>progress</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => {
              const end = r.finishedAt ?? (r.status === "running" ? now : undefined);
              return (
                <tr key={r.id} data-run={r.id}>
                  <td>
                    <StatusBadge status={r.status} />
                  </td>
                  <td>
                    <a href={runsHref(status, r.pipeline)}>{r.pipeline}</a>
                  </td>
                  <td>
                    <a href={runHref(r.id)}>
                      <code>{r.id}</code>
                    </a>
                  </td>
                  <td class="params">
                    {Object.entries(r.params).map(([k, v]) => (
                      <code key={k} class="param" title={`${k}=${v}`}>
                        {k}={v.length > 40 ? `${v.slice(0, 39)}…` : v}
                      </code>
                    ))}
                  </td>
                  <td>{fmtTime(r.createdAt)}</td>
                  <td>
                    {fmtDuration(
                      end === undefined || r.createdAt === undefined ? undefined : end - r.createdAt,
                    )}
                  </td>
                  <td>
                    <Progress counts={r.counts} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {next === "" ? null : (
        <button type="button" onClick={() => load(next)}>
          more
        </button>
      )}
    </div>
  );
}
