/**
 * One stage of a run: its state (and why it waits), the retry action, its attempts with
 * agents and outcomes, its outputs with digests, sizes and download links, what went into its cache key, and
 * the log of the chosen attempt.
 */
import { useEffect, useState } from "preact/hooks";
import { apiUrl, errorText, getJson, postJson } from "../api/client";
import type { Run, RunJson, Stage } from "../api/types";
import { permits, useWhoami } from "../api/whoami";
import { LogView } from "../components/log-view";
import { fmtDuration, fmtTime, shortDigest } from "../format";
import { humanBytes } from "../../../shared/util/bytes";
import { elapsedOf, STATE_LABEL } from "../graph/stage-graph";
import { ReproSection } from "./repro-section";

/** The download route of an output (coordinator/downloads/), beside the dashboard's API. */
function downloadUrl(run: string, stage: string, output: string): string {
  const path = [run, "stages", stage, "outputs", output].map((p) => encodeURIComponent(p)).join("/");
  return new URL(`../api/v1/runs/${path}`, document.baseURI).toString();
}

interface KeyView {
  key: string;
  computedKey: string;
  matches: boolean;
  material: {
    v: number;
    runner: { kind: string; version: string };
    platform: string;
    script: string | null;
    env: Record<string, string>;
    inputs: Record<string, { digest: string; kind: string; path: string; unpack: boolean }>;
    sources: Record<string, { url: string; sha256: string }>;
    outputs: Record<string, { path: string; kind: string | null; exclude: string[] }>;
    with: Record<string, unknown>;
    clampMtime: boolean;
  };
  inputs: Array<{ input: string; from: string; digest: string }>;
}

function KeyMaterial(props: { runId: string; stage: Stage }) {
  const { runId, stage } = props;
  const [view, setView] = useState<KeyView | undefined>(undefined);
  const [error, setError] = useState("");
  useEffect(() => {
    setView(undefined);
    setError("");
    if (stage.cacheKey === "") return;
    const abort = new AbortController();
    getJson<KeyView>(
      apiUrl(`runs/${encodeURIComponent(runId)}/stages/${encodeURIComponent(stage.name)}/key`),
      abort.signal,
    )
      .then(setView)
      .catch((err: unknown) => {
        if (!abort.signal.aborted) setError(errorText(err));
      });
    return () => abort.abort();
  }, [runId, stage.name, stage.cacheKey]);
  if (stage.cacheKey === "")
    return <p class="muted">No cache key yet: {stage.reason || "its inputs are not known"}.</p>;
  if (error !== "") return <p class="error">{error}</p>;
  if (view === undefined) return <p class="muted">loading…</p>;
  const m = view.material;
  const from = new Map(view.inputs.map((i) => [i.input, i.from]));
  return (
    <div class="key" data-testid="key-material">
      <p>
        <code class="digest">{view.key}</code>{" "}
        {view.matches ? (
          <span class="badge ok">recomputed: same key</span>
        ) : (
          <span class="badge warn" title={view.computedKey}>
            recomputed key differs (runner versions changed?)
          </span>
        )}
      </p>
      <table class="kv">
        <tbody>
          <tr>
            <th>runner</th>
            <td>
              {m.runner.kind} {m.runner.version}
            </td>
          </tr>
          <tr>
            <th>platform</th>
            <td>{m.platform}</td>
          </tr>
          <tr>
            <th>clamp mtime</th>
            <td>{String(m.clampMtime)}</td>
          </tr>
          <tr>
            <th>key schema</th>
            <td>v{m.v}</td>
          </tr>
        </tbody>
      </table>
      <h4>Inputs (by content digest)</h4>
      {Object.keys(m.inputs).length === 0 ? (
        <p class="muted">none</p>
      ) : (
        <table class="grid">
          <thead>
            <tr>
              <th>input</th>
              <th>from</th>
              <th>digest</th>
              <th>kind</th>
              <th>placed at</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(m.inputs).map(([name, i]) => (
              <tr key={name}>
                <td>{name}</td>
                <td>{from.get(name) ?? ""}</td>
                <td>
                  <code title={i.digest}>{shortDigest(i.digest)}</code>
                </td>
                <td>{i.kind}</td>
                <td>
                  {i.path}
                  {i.unpack ? " (unpacked)" : ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {Object.keys(m.sources).length === 0 ? null : (
        <>
          <h4>Pinned sources</h4>
          <table class="grid">
            <tbody>
              {Object.entries(m.sources).map(([name, s]) => (
                <tr key={name}>
                  <td>{name}</td>
                  <td>{s.url}</td>
                  <td>
                    <code title={s.sha256}>{shortDigest(s.sha256)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h4>Environment</h4>
      {Object.keys(m.env).length === 0 ? (
        <p class="muted">empty</p>
      ) : (
        <table class="grid">
          <tbody>
            {Object.entries(m.env).map(([k, v]) => (
              <tr key={k}>
                <td>
                  <code>{k}</code>
                </td>
                <td>
                  <code>{v}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h4>Declared outputs</h4>
      <table class="grid">
        <tbody>
          {Object.entries(m.outputs).map(([name, o]) => (
            <tr key={name}>
              <td>{name}</td>
              <td>{o.path}</td>
              <td>{o.kind ?? "by content"}</td>
              <td>{o.exclude.length === 0 ? "" : `exclude ${o.exclude.join(", ")}`}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {m.script === null ? null : (
        <>
          <h4>Script (normalised)</h4>
          <pre class="script">{m.script}</pre>
        </>
      )}
      {Object.keys(m.with).length === 0 ? null : (
        <>
          <h4>Runner data (with)</h4>
          <pre class="script">{JSON.stringify(m.with, null, 2)}</pre>
        </>
      )}
    </div>
  );
}

export function StagePanel(props: {
  run: Run;
  stage: Stage;
  now: number;
  onRun: (r: Run) => void;
  onClose: () => void;
  toRun: (j: RunJson) => Run;
}) {
  const { run, stage: s, now } = props;
  const started = s.attempts;
  const latest = s.attempts[s.attempts.length - 1]?.number ?? 0;
  const [picked, setPicked] = useState(0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  useEffect(() => setPicked(0), [s.name]);
  const attempt = picked || latest;
  const mayRetry = permits(useWhoami(), "submitter");
  // A failed stage is retried also while its run goes on; skipped and cancelled ones once it ended.
  const canRetry =
    s.state === "failed" || (run.status !== "running" && (s.state === "skipped" || s.state === "cancelled"));
  const retry = (): void => {
    setBusy(true);
    setError("");
    postJson<{ run?: RunJson }>(
      apiUrl(`runs/${encodeURIComponent(run.id)}/stages/${encodeURIComponent(s.name)}/retry`),
    )
      .then((r) => {
        if (r.run !== undefined) props.onRun(props.toRun(r.run));
      })
      .catch((err: unknown) => setError(errorText(err)))
      .finally(() => setBusy(false));
  };
  const end = s.finishedAt ?? (s.state === "running" ? now : undefined);
  return (
    <section class="stage-panel" data-testid="stage-panel">
      <header class="panel-head">
        <h2>
          <span class={`dot state-${s.state}`} /> <span data-testid="stage-title">{s.name}</span>
        </h2>
        <span class={`badge state-${s.state}`}>{STATE_LABEL[s.state]}</span>
        {s.runner === "" ? null : <span class="muted">runner {s.runner}</span>}
        {s.agent === "" ? null : <span class="muted">on {s.agent}</span>}
        {end === undefined || s.startedAt === undefined ? null : (
          <span class="muted" data-testid="stage-elapsed">
            {s.state === "running" ? `running for ${elapsedOf(s, now)}` : fmtDuration(end - s.startedAt)}
          </span>
        )}
        <span class="spacer" />
        {canRetry ? (
          <button
            type="button"
            class="action"
            disabled={busy || !mayRetry.ok}
            title={mayRetry.why}
            onClick={retry}
            data-testid="retry-stage"
          >
            retry stage
          </button>
        ) : null}
        <button type="button" onClick={props.onClose} title="close">
          ✕
        </button>
      </header>
      {error === "" ? null : <p class="error">{error}</p>}
      {s.reason !== "" &&
      (s.state === "waiting" || s.state === "ready" || s.state === "skipped" || s.state === "cancelled") ? (
        <p class="reason" data-testid="stage-reason">
          {s.state === "ready" ? "Queued: " : s.state === "waiting" ? "Waiting: " : ""}
          {s.reason}
        </p>
      ) : null}
      {s.error === "" ? null : <pre class="error-box">{s.error}</pre>}
      {s.repro === undefined ? null : <ReproSection repro={s.repro} />}

      <h3>Attempts</h3>
      {started.length === 0 ? (
        <p class="muted">{s.state === "cached" ? "A cache hit: not executed in this run." : "None yet."}</p>
      ) : (
        <table class="grid" data-testid="attempts">
          <thead>
            <tr>
              <th>#</th>
              <th>agent</th>
              <th>started</th>
              <th>took</th>
              <th>outcome</th>
              <th>error</th>
            </tr>
          </thead>
          <tbody>
            {started.map((a) => (
              <tr
                key={a.number}
                class={a.number === attempt ? "picked" : ""}
                onClick={() => setPicked(a.number)}
              >
                <td>{a.number}</td>
                <td>{a.agent || "–"}</td>
                <td>{fmtTime(a.startedAt)}</td>
                <td>
                  {a.startedAt === undefined
                    ? "–"
                    : fmtDuration(
                        (a.finishedAt ?? (a.outcome === "running" ? now : a.startedAt)) - a.startedAt,
                      )}
                </td>
                <td>
                  <span class={`badge outcome-${a.outcome}`}>{a.outcome.replace("_", " ")}</span>
                </td>
                <td class="clip">{a.error}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3>Outputs</h3>
      {s.outputs.length === 0 ? (
        <p class="muted">None yet.</p>
      ) : (
        <table class="grid" data-testid="outputs">
          <thead>
            <tr>
              <th>output</th>
              <th>kind</th>
              <th>sha256</th>
              <th>size</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {s.outputs.map((o) => (
              <tr key={o.name}>
                <td>{o.name}</td>
                <td>{o.kind}</td>
                <td>
                  <code class="digest">{o.digest}</code>
                </td>
                <td>{humanBytes(o.size)}</td>
                <td>
                  <a
                    data-testid="download"
                    href={downloadUrl(run.id, s.name, o.name)}
                    download
                    title={o.kind === "tree" ? "the tree as a tar.zst" : "the file"}
                  >
                    download
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <details class="key-details">
        <summary>
          <h3>Cache key</h3>{" "}
          <code title={s.cacheKey}>{s.cacheKey === "" ? "–" : shortDigest(s.cacheKey)}</code>
        </summary>
        <KeyMaterial runId={run.id} stage={s} />
      </details>

      <h3>Log{attempt > 0 ? ` · attempt ${attempt}` : ""}</h3>
      <LogView
        runId={run.id}
        stage={s.name}
        attempt={attempt}
        running={s.state === "running" || s.state === "ready"}
      />
    </section>
  );
}
