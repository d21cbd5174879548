/**
 * "New run": a pipeline the server offers (`up --pipelines DIR`) picked from a list, with a
 * typed form of its params (required ones marked, defaults filled in, descriptions shown);
 * or, as the advanced mode, a pipeline's YAML text with NAME=VALUE params. Both go to the
 * submit route; what the server refuses (a required param left empty, a param it does not
 * know) is shown beside the form, and the fields it names as missing are marked.
 */
import { useEffect, useState } from "preact/hooks";
import { apiUrl, errorText, getJson, postJson } from "../api/client";
import {
  formParams,
  missingParamsIn,
  parseParamLines,
  type OfferedPipelineJson,
  type PipelineListJson,
} from "../api/pipelines";
import type { RunJson } from "../api/types";
import { permits, useWhoami } from "../api/whoami";
import { runHref } from "../router";

type Mode = "form" | "yaml";

/** Posts a submission; on success the page goes to the new run. */
function useSubmit(): {
  busy: boolean;
  error: string;
  setError: (e: string) => void;
  send: (body: unknown) => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const send = (body: unknown): void => {
    setError("");
    setBusy(true);
    postJson<{ run?: RunJson }>(apiUrl("runs"), body)
      .then((r) => {
        if (r.run?.id !== undefined) location.hash = runHref(r.run.id);
      })
      .catch((err: unknown) => setError(errorText(err)))
      .finally(() => setBusy(false));
  };
  return { busy, error, setError, send };
}

function ErrorBox(props: { text: string }) {
  return props.text === "" ? null : (
    <pre class="error-box" data-testid="submit-error">
      {props.text}
    </pre>
  );
}

function PipelineForm(props: { pipelines: OfferedPipelineJson[]; onClose: () => void }) {
  const { pipelines } = props;
  const [name, setName] = useState(pipelines[0]?.name ?? "");
  const [values, setValues] = useState<Record<string, string>>({});
  const { busy, error, setError, send } = useSubmit();
  const chosen = pipelines.find((p) => p.name === name);
  const missing = missingParamsIn(error);
  const submit = (e: Event): void => {
    e.preventDefault();
    if (chosen === undefined) return;
    send({ pipelineName: chosen.name, params: formParams(chosen.params, values) });
  };
  return (
    <form class="submit-form" onSubmit={submit} noValidate data-testid="submit-form">
      <label>
        Pipeline
        <select
          value={name}
          data-testid="pipeline-picker"
          onChange={(e) => {
            setName((e.target as HTMLSelectElement).value);
            setValues({});
            setError("");
          }}
        >
          {pipelines.map((p) => (
            <option key={p.name} value={p.name}>
              {p.name}
              {p.error === undefined ? "" : " (does not parse)"}
            </option>
          ))}
        </select>
      </label>
      {chosen?.description === undefined ? null : <p class="muted">{chosen.description}</p>}
      {chosen?.error === undefined ? null : <pre class="error-box">{chosen.error}</pre>}
      {chosen === undefined || chosen.error !== undefined ? null : chosen.params.length === 0 ? (
        <p class="muted">This pipeline has no params.</p>
      ) : (
        <div class="param-fields" data-testid="param-fields">
          {chosen.params.map((p) => (
            <label key={`${chosen.name}/${p.name}`} class="param-field" data-param={p.name}>
              <span class="param-name">
                {p.name}
                {p.required ? (
                  <span class="required" title="required: every run gives a value" data-testid="required">
                    {" "}
                    *
                  </span>
                ) : null}
              </span>
              <input
                value={values[p.name] ?? p.default ?? ""}
                placeholder={p.required ? "required" : ""}
                aria-required={p.required}
                aria-invalid={missing.has(p.name)}
                class={missing.has(p.name) ? "invalid" : undefined}
                data-testid={`param-${p.name}`}
                onInput={(e) => {
                  const v = (e.target as HTMLInputElement).value;
                  setValues((prev) => ({ ...prev, [p.name]: v }));
                }}
              />
              {p.description === undefined ? null : <small class="muted">{p.description}</small>}
              {missing.has(p.name) ? <small class="field-error">the server needs a value</small> : null}
            </label>
          ))}
        </div>
      )}
      <ErrorBox text={error} />
      <div class="row">
        <button
          type="submit"
          class="action"
          disabled={busy || chosen === undefined || chosen.error !== undefined}
          data-testid="submit-run"
        >
          start run
        </button>
        <button type="button" onClick={props.onClose}>
          close
        </button>
      </div>
    </form>
  );
}

function YamlForm(props: { onClose: () => void }) {
  const [yaml, setYaml] = useState("");
  const [path, setPath] = useState("pipeline.yaml");
  const [params, setParams] = useState("");
  const { busy, error, setError, send } = useSubmit();
  const submit = (e: Event): void => {
    e.preventDefault();
    let p: Record<string, string>;
    try {
      p = parseParamLines(params);
    } catch (err: unknown) {
      setError(errorText(err));
      return;
    }
    send({ pipelineYaml: yaml, pipelinePath: path, params: p });
  };
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
      <ErrorBox text={error} />
      <div class="row">
        <button type="submit" class="action" disabled={busy || yaml.trim() === ""} data-testid="submit-run">
          start run
        </button>
        <button type="button" onClick={props.onClose}>
          close
        </button>
      </div>
    </form>
  );
}

function NewRunPanel(props: { onClose: () => void }) {
  const [list, setList] = useState<PipelineListJson | undefined>(undefined);
  const [listError, setListError] = useState("");
  const [mode, setMode] = useState<Mode | undefined>(undefined);
  useEffect(() => {
    const abort = new AbortController();
    getJson<PipelineListJson>(apiUrl("pipelines"), abort.signal)
      .then((l) => {
        setList(l);
        setMode((m) => m ?? (l.pipelines.length > 0 ? "form" : "yaml"));
      })
      .catch((err: unknown) => {
        if (abort.signal.aborted) return;
        setListError(errorText(err));
        setMode((m) => m ?? "yaml");
      });
    return () => abort.abort();
  }, []);
  const offered = list?.pipelines ?? [];
  return (
    <div class="new-run" data-testid="new-run-panel">
      <div class="row mode-tabs">
        <button
          type="button"
          class={mode === "form" ? "tab active" : "tab"}
          disabled={offered.length === 0}
          title={
            offered.length === 0
              ? "this server offers no pipelines by name (stagefarm up --pipelines DIR)"
              : undefined
          }
          data-testid="mode-form"
          onClick={() => setMode("form")}
        >
          pick a pipeline
        </button>
        <button
          type="button"
          class={mode === "yaml" ? "tab active" : "tab"}
          data-testid="mode-yaml"
          onClick={() => setMode("yaml")}
        >
          advanced: pipeline YAML
        </button>
        {listError === "" ? null : <span class="error">pipelines: {listError}</span>}
      </div>
      {mode === "form" ? (
        <PipelineForm pipelines={offered} onClose={props.onClose} />
      ) : mode === "yaml" ? (
        <YamlForm onClose={props.onClose} />
      ) : (
        <p class="muted">Loading…</p>
      )}
    </div>
  );
}

export function NewRun() {
  const [open, setOpen] = useState(false);
  const maySubmit = permits(useWhoami(), "submitter");
  if (open) return <NewRunPanel onClose={() => setOpen(false)} />;
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
}
