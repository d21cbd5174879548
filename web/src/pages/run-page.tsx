/**
 * A run: the stage graph (states, cached vs executed, the critical path), why waiting stages
 * wait, a timeline of attempts per agent, and the selected stage. Follows the run's events
 * (a snapshot, then stage changes, batched into one render per frame) and shows whether the
 * stream is live or reconnecting; after a coordinator restart it resumes or takes a fresh
 * snapshot, and says so when the run is gone.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, apiUrl, errorText, getJson, postJson } from "../api/client";
import { LiveStream, type LiveStatus } from "../api/live";
import { permits, useWhoami } from "../api/whoami";
import {
  countsOf,
  mergeStage,
  runOf,
  stageOf,
  type Counts,
  type Run,
  type RunEventJson,
  type RunJson,
  type Stage,
} from "../api/types";
import { Gantt } from "../components/gantt";
import { ConnPill, Progress, StatusBadge } from "../components/progress";
import { fmtDuration, fmtTime } from "../format";
import { criticalPath } from "../graph/critical-path";
import { StageGraph, STATE_LABEL } from "../graph/stage-graph";
import { runHref } from "../router";
import { liveEta } from "../eta";
import { StagePanel } from "./stage-panel";

function recount(stages: readonly Stage[]): Counts {
  const c = countsOf({});
  for (const s of stages) {
    c.total++;
    c[s.state]++;
  }
  return c;
}

function Legend() {
  return (
    <div class="legend">
      {(Object.keys(STATE_LABEL) as Array<Stage["state"]>).map((k) => (
        <span key={k}>
          <span class={`dot state-${k}`} /> {STATE_LABEL[k]}
        </span>
      ))}
      <span>
        <span class="dot critical-dot" /> critical path
      </span>
    </div>
  );
}

function WaitingList(props: { runId: string; stages: readonly Stage[]; onSelect: (n: string) => void }) {
  const waiting = props.stages.filter((s) => s.state === "waiting" || s.state === "ready");
  if (waiting.length === 0) return null;
  const shown = waiting.slice(0, 100);
  return (
    <section class="waiting" data-testid="waiting">
      <h3>Why not running ({waiting.length})</h3>
      <ul>
        {shown.map((s) => (
          <li key={s.name}>
            <a
              href={runHref(props.runId, s.name)}
              onClick={(e) => {
                e.preventDefault();
                props.onSelect(s.name);
              }}
            >
              {s.name}
            </a>{" "}
            <span class={`badge state-${s.state}`}>{STATE_LABEL[s.state]}</span>{" "}
            <span class="muted">{s.reason}</span>
          </li>
        ))}
      </ul>
      {waiting.length > shown.length ? <p class="muted">and {waiting.length - shown.length} more</p> : null}
    </section>
  );
}

export function RunPage(props: { id: string; stage: string | undefined }) {
  const { id } = props;
  const [run, setRun] = useState<Run | undefined>(undefined);
  const [error, setError] = useState("");
  const [conn, setConn] = useState<LiveStatus | undefined>(undefined);
  const [now, setNow] = useState(Date.now());
  const [confirming, setConfirming] = useState(false);
  const mayCancel = permits(useWhoami(), "submitter");
  const [busy, setBusy] = useState(false);
  const pending = useRef(new Map<string, Stage>());
  const frame = useRef<number | undefined>(undefined);

  useEffect(() => {
    setRun(undefined);
    setError("");
    const flush = (): void => {
      frame.current = undefined;
      const updates = pending.current;
      if (updates.size === 0) return;
      pending.current = new Map();
      setRun((prev) => {
        if (prev === undefined) return prev;
        const stages = prev.stages.map((s) => {
          const u = updates.get(s.name);
          return u === undefined ? s : mergeStage(s, u);
        });
        return { ...prev, stages, counts: recount(stages) };
      });
    };
    const stream = new LiveStream(
      apiUrl(`runs/${encodeURIComponent(id)}/events`),
      {
        run: (d) => {
          const e = d as RunEventJson;
          if (e.run === undefined) return;
          pending.current.clear();
          setRun(runOf(e.run));
          setError("");
        },
        stage: (d) => {
          const e = d as RunEventJson;
          if (e.stage === undefined) return;
          const s = stageOf(e.stage);
          pending.current.set(s.name, s);
          frame.current ??= requestAnimationFrame(flush);
        },
      },
      setConn,
      async () => {
        try {
          await getJson(apiUrl(`runs/${encodeURIComponent(id)}`));
          return true;
        } catch (err: unknown) {
          if (err instanceof ApiError && err.status === 404) {
            setError(`run ${id} is not known to the coordinator (it may have restarted without it)`);
            return false;
          }
          return true;
        }
      },
    );
    return () => {
      stream.close();
      if (frame.current !== undefined) cancelAnimationFrame(frame.current);
      frame.current = undefined;
      pending.current = new Map();
    };
  }, [id]);

  const running = run?.status === "running";
  useEffect(() => {
    if (!running) return;
    const t = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(t);
  }, [running]);

  const stages = run?.stages ?? [];
  const critical = useMemo(() => criticalPath(stages, now), [stages, now]);
  const selected = props.stage === undefined ? undefined : stages.find((s) => s.name === props.stage);
  const select = (name: string): void => {
    location.hash = runHref(id, name);
  };

  const cancel = (): void => {
    setBusy(true);
    postJson<{ run?: RunJson }>(apiUrl(`runs/${encodeURIComponent(id)}/cancel`))
      .then((r) => {
        if (r.run !== undefined) setRun(runOf(r.run));
      })
      .catch((err: unknown) => setError(errorText(err)))
      .finally(() => {
        setBusy(false);
        setConfirming(false);
      });
  };

  if (run === undefined)
    return (
      <div class="page">
        <p>
          <a href="#/runs">← runs</a> <ConnPill status={conn} />
        </p>
        {error === "" ? <p class="muted">Loading run {id}…</p> : <p class="error">{error}</p>}
      </div>
    );
  const end = run.finishedAt ?? (running ? now : undefined);
  const eta = running ? liveEta(run, now) : undefined;
  return (
    <div class={`page run-page${selected === undefined ? "" : " with-stage"}`}>
      <div class="run-main">
        <header class="run-head">
          <a href="#/runs">← runs</a>
          <h1 data-testid="run-pipeline">{run.pipeline}</h1>
          <StatusBadge status={run.status} />
          <code class="muted">{run.id}</code>
          <span class="spacer" />
          {running ? (
            confirming ? (
              <>
                <button
                  type="button"
                  class="danger"
                  disabled={busy}
                  onClick={cancel}
                  data-testid="confirm-cancel"
                >
                  really cancel
                </button>
                <button type="button" onClick={() => setConfirming(false)}>
                  keep running
                </button>
              </>
            ) : (
              <button
                type="button"
                class="danger"
                onClick={() => setConfirming(true)}
                disabled={!mayCancel.ok}
                title={mayCancel.why}
                data-testid="cancel-run"
              >
                cancel run
              </button>
            )
          ) : null}
          <ConnPill status={conn} />
        </header>
        <div class="run-meta">
          <Progress counts={run.counts} />
          <span>started {fmtTime(run.createdAt)}</span>
          <span data-testid="run-duration">
            {running ? "running for" : "took"}{" "}
            {fmtDuration(end === undefined || run.createdAt === undefined ? undefined : end - run.createdAt)}
          </span>
          {running && eta !== undefined ? (
            <span data-testid="run-eta" title="expected time left: recorded medians along what remains">
              ETA ~{fmtDuration(eta)}
            </span>
          ) : null}
          <span class="muted" title="pipeline file">
            {run.pipelinePath}
          </span>
          <span class="params" data-testid="run-params">
            {Object.entries(run.params).map(([k, v]) => (
              <code key={k} class="param">
                {k}={v}
              </code>
            ))}
          </span>
        </div>
        {error === "" ? null : <p class="error">{error}</p>}
        {run.error === "" ? null : (
          <p class="error" data-testid="run-error">
            {run.error}
          </p>
        )}
        <Legend />
        <StageGraph stages={stages} critical={critical} selected={props.stage} now={now} onSelect={select} />
        <WaitingList runId={run.id} stages={stages} onSelect={select} />
        <section>
          <h3>Timeline of attempts per agent</h3>
          <Gantt stages={stages} now={now} onSelect={select} />
        </section>
      </div>
      {selected === undefined ? null : (
        <aside class="run-side">
          <StagePanel
            run={run}
            stage={selected}
            now={now}
            onRun={setRun}
            toRun={runOf}
            onClose={() => (location.hash = runHref(id))}
          />
        </aside>
      )}
      {props.stage !== undefined && selected === undefined ? (
        <p class="error">This run has no stage named “{props.stage}”.</p>
      ) : null}
    </div>
  );
}
