/**
 * The runs: status, pipeline, params, start, duration and progress, newest first, filtered by
 * status and pipeline; kept current by the global event stream (run summaries). A form submits
 * a pipeline (its YAML text and params) as a new run.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { apiUrl, errorText, getJson, postJson } from "../api/client";
import { LiveStream, type LiveStatus } from "../api/live";
import { permits, useWhoami } from "../api/whoami";
import { runOf, type Run, type RunEventJson, type RunJson } from "../api/types";
import { ConnPill, Progress, StatusBadge } from "../components/progress";
import { fmtDuration, fmtTime } from "../format";
import { runHref, runsHref } from "../router";

const STATUSES = ["", "running", "succeeded", "failed", "cancelled"];

function parseParams(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    const i = t.indexOf("=");
    if (i <= 0) throw new Error(`params: "${t}" is not NAME=VALUE`);
    out[t.slice(0, i).trim()] = t.slice(i + 1);
  }
  return out;
}

function SubmitForm() {
  const [open, setOpen] = useState(false);
  const [yaml, setYaml] = useState("");
  const [path, setPath] = useState("pipeline.yaml");
  const [params, setParams] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const maySubmit = permits(useWhoami(), "submitter");
  const submit = (e: Event): void => {
    e.preventDefault();
    setError("");
    let p: Record<string, string>;
    try {
      p = parseParams(params);
    } catch (err: unknown) {
      setError(errorText(err));
      return;
    }
    setBusy(true);
    postJson<{ run?: RunJson }>(apiUrl("runs"), { pipelineYaml: yaml, pipelinePath: path, params: p })
      .then((r) => {
        if (r.run?.id !== undefined) location.hash = runHref(r.run.id);
      })
      .catch((err: unknown) => setError(errorText(err)))
      .finally(() => setBusy(false));
  };
  if (!open)
    return (
      <button
        type="button"
        class="action"
        onClick={() => setOpen(true)}
        disabled={!maySubmit.ok}
        title={maySubmit.why}
        data-testid="new-run"
      >
        new run
      </button>
    );
  return (
    <form class="submit-form" onSubmit={submit} data-testid="submit-form">
      <label>
        Pipeline (YAML)
        <textarea
          rows={12}
          spellcheck={false}
          value={yaml}
          data-testid="pipeline-yaml"
          onInput={(e) => setYaml((e.target as HTMLTextAreaElement).value)}
        />
      </label>
      <div class="row">
        <label>
          File name (for messages)
          <input
            value={path}
            data-testid="pipeline-path"
            onInput={(e) => setPath((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Params (NAME=VALUE per line)
          <textarea
            rows={3}
            value={params}
            data-testid="pipeline-params"
            onInput={(e) => setParams((e.target as HTMLTextAreaElement).value)}
          />
        </label>
      </div>
      {error === "" ? null : <pre class="error-box">{error}</pre>}
      <div class="row">
        <button type="submit" class="action" disabled={busy || yaml.trim() === ""} data-testid="submit-run">
          start run
        </button>
        <button type="button" onClick={() => setOpen(false)}>
          close
        </button>
      </div>
    </form>
  );
}

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
      <SubmitForm />
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
