/**
 * The pipelines the server offers by name (`GET pipelines`, coordinator/dashboard/pipeline-list.ts)
 * and what the "new run" form makes of the server's answer to a submission.
 */
export interface PipelineParamJson {
  name: string;
  required: boolean;
  default?: string;
  description?: string;
}

export interface OfferedPipelineJson {
  name: string;
  pipeline?: string;
  description?: string;
  params: PipelineParamJson[];
  error?: string;
}

export interface PipelineListJson {
  offered: boolean;
  pipelines: OfferedPipelineJson[];
}

/** The params a submission error names as missing (the server lists them as `--param NAME=…`). */
export function missingParamsIn(message: string): Set<string> {
  return new Set(Array.from(message.matchAll(/--param ([A-Za-z0-9_.-]+)=/g), (m) => m[1] ?? ""));
}

/**
 * The params a typed form sends: each value as entered; a required param left empty is left
 * out, so the server's own check says what is missing.
 */
export function formParams(
  params: PipelineParamJson[],
  values: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of params) {
    const v = values[p.name] ?? p.default ?? "";
    if (p.required && v === "") continue;
    out[p.name] = v;
  }
  return out;
}

/** NAME=VALUE lines (the advanced form's params); `#` starts a comment line. */
export function parseParamLines(text: string): Record<string, string> {
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
