/**
 * Parsing of one stage mapping into a StageSpec, with the per-runner rules of the runner kinds'
 * table (../runner-kinds.ts): a runner whose outputs are its sources (fetch) has `sources` (each
 * becomes a file output of the same name) and no script; shell and chroot need a script.
 * Cross-stage checks (references, cycles) are in check-graph.ts.
 */
import { isMap, isScalar } from "yaml";
import { StagefarmError } from "../errors.js";
import { parseDurationMs } from "../util/duration.js";
import type { GraphNode } from "./check-graph.js";
import { checkTemplateContexts } from "./check-template-contexts.js";
import { withIssues } from "../runner-config/index.js";
import { RUNNER_KINDS, RUNNERS, isRunnerKind, type RunnerKind } from "../runner-kinds.js";
import { limitsRunnerProblem, readLimits } from "./limits.js";
import { checkInputPaths, checkName, readInputs, readOutputs, readSources } from "./parse-io.js";
import { readRetryOn } from "./retry-on.js";
import { envNameProblem, labelProblem } from "./rules.js";
import { didYouMean } from "./suggest.js";
import type { OutputSpec, StageSpec } from "./types.js";
import { nodeAt, readWith } from "./with-data.js";
import type { Entry, YamlReader } from "./yaml-reader.js";

const STAGE_KEYS = [
  "runner",
  "description",
  "requires",
  "inputs",
  "sources",
  "env",
  "script",
  "outputs",
  "timeout",
  "retries",
  "retry_on",
  "estimate",
  "clamp_mtime",
  "limits",
  "with",
] as const;

const DEFAULT_TIMEOUT_MS = 24 * 3_600_000;
/** `"fetch"`: the runners whose outputs are their pinned sources, for messages. */
const SOURCES_RUNNERS = RUNNER_KINDS.filter((k) => RUNNERS[k].sources)
  .map((k) => `"${k}"`)
  .join(", ");
/** Workspace path a fetch stage's source outputs are reported at. */
export const FETCH_OUTPUT_DIR = "sources";

/** An env mapping (`NAME: value`); plain numbers/booleans are kept as written. */
export function readEnv(r: YamlReader, e: Entry, where: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of r.entries(e.value, e.key, `${where} env`) ?? []) {
    const problem = envNameProblem(item.name);
    if (problem !== undefined) {
      r.error(item.key, `${where} env: ${problem}`);
      continue;
    }
    const value = r.string(item.value, item.key, `${where} env "${item.name}"`, true);
    if (value !== undefined) env[item.name] = value;
  }
  return env;
}

function readDuration(r: YamlReader, e: Entry, where: string): number | undefined {
  const node = r.deref(e.value);
  const value = node !== undefined && isScalar(node) ? node.value : undefined;
  if (typeof value !== "string" && typeof value !== "number") {
    r.error(
      node ?? e.key,
      `${where}: expected a duration (e.g. 30m, 2h) or a number of seconds, got ${r.describe(node)}`,
    );
    return undefined;
  }
  try {
    const ms = parseDurationMs(value);
    if (ms > 0) return ms;
    r.error(node ?? e.key, `${where}: must be longer than zero`);
  } catch (err: unknown) {
    r.error(node ?? e.key, `${where}: ${StagefarmError.from(err).message}`);
  }
  return undefined;
}

function readRunner(r: YamlReader, e: Entry | undefined, where: string): RunnerKind | undefined {
  if (e === undefined) return undefined;
  const text = r.string(e.value, e.key, `${where} runner`);
  if (text === undefined) return undefined;
  if (isRunnerKind(text)) return text;
  r.error(
    e.value ?? e.key,
    `${where}: unknown runner "${text}"${didYouMean(text, RUNNER_KINDS)}; valid runners are ${RUNNER_KINDS.join(", ")}`,
  );
  return undefined;
}

/** Keys of a mapping as written (output or source names), whether or not their values parse. */
function keysOf(r: YamlReader, e: Entry | undefined): string[] {
  const node = r.deref(e?.value);
  if (!isMap(node)) return [];
  return node.items.flatMap((p) => (isScalar(p.key) && typeof p.key.value === "string" ? [p.key.value] : []));
}

/**
 * Parses one stage. `spec` is undefined when the stage has errors that make it unusable;
 * `node` (what the graph check needs) is given whenever the name is valid.
 */
export function readStage(
  r: YamlReader,
  e: Entry,
): { spec: StageSpec | undefined; node: GraphNode | undefined } {
  const where = `stage "${e.name}"`;
  const nameOk = checkName(r, e, where);
  const f = r.fields(e.value, e.key, where, STAGE_KEYS);
  if (!isMap(r.deref(e.value))) {
    const node = { name: e.name, inputs: [], outputs: [], declared: new Set<string>(), broken: true };
    return { spec: undefined, node: nameOk ? node : undefined };
  }
  const issuesBefore = r.issues.length;
  const runner = readRunner(r, r.require(f, "runner", e.key, where), where);

  const get = <T>(key: string, read: (entry: Entry) => T | undefined): T | undefined => {
    const entry = f.get(key);
    return entry && read(entry);
  };
  const description = get("description", (x) => r.string(x.value, x.key, `${where} description`));
  const requires = get("requires", (x) => r.strings(x.value, x.key, `${where} requires`)) ?? [];
  for (const label of requires) {
    const problem = labelProblem(label);
    if (problem !== undefined) r.error(f.get("requires")?.key ?? e.key, `${where} requires: ${problem}`);
  }
  const inputs = get("inputs", (x) => readInputs(r, x, where)) ?? [];
  checkInputPaths(r, inputs, where);
  const sources = get("sources", (x) => readSources(r, x, where)) ?? [];
  let outputs = get("outputs", (x) => readOutputs(r, x, where)) ?? [];
  const env = get("env", (x) => readEnv(r, x, where)) ?? {};
  const script = get("script", (x) => r.string(x.value, x.key, `${where} script`, true));
  const timeoutMs = get("timeout", (x) => readDuration(r, x, `${where} timeout`)) ?? DEFAULT_TIMEOUT_MS;
  const retries = get("retries", (x) => r.count(x.value, x.key, `${where} retries`)) ?? 0;
  const retryOn = get("retry_on", (x) => readRetryOn(r, x, where));
  const estimateMs = get("estimate", (x) => readDuration(r, x, `${where} estimate`));
  const clampEntry = f.get("clamp_mtime");
  const clampMtime = clampEntry
    ? r.boolean(clampEntry.value, clampEntry.key, `${where} clamp_mtime`)
    : runner === undefined || RUNNERS[runner].clampMtime;
  const withEntry = f.get("with");
  let withData: Record<string, unknown> = {};
  if (withEntry) {
    const data = readWith(r, withEntry.value, withEntry.key, `${where} with`);
    if (data !== null && typeof data === "object" && !Array.isArray(data))
      withData = data as Record<string, unknown>;
    else
      r.error(
        withEntry.value ?? withEntry.key,
        `${where} with: expected a mapping, got ${r.describe(withEntry.value)}`,
      );
  }
  // Past an expansion bound the data is cut short: checking it would only add noise.
  if (runner !== undefined && !r.expansionExceeded)
    for (const issue of withIssues(runner, withData, { allowTemplates: true }))
      r.error(
        nodeAt(r, withEntry?.value, issue.path) ?? withEntry?.key ?? e.key,
        `${where} (runner ${runner}) ${issue.message}`,
      );
  const scriptNode = r.deref(f.get("script")?.value);
  checkTemplateContexts(r, {
    where,
    runner,
    ...(script !== undefined && scriptNode !== undefined
      ? { script: { node: scriptNode, text: script } }
      : {}),
    with: withData,
    locate: (path) => nodeAt(r, withEntry?.value, path),
  });

  const traits = runner === undefined ? undefined : RUNNERS[runner];
  if (traits?.script === "refused") {
    const scriptEntry = f.get("script");
    if (scriptEntry) r.error(scriptEntry.key, `${where}: a ${runner} stage takes no "script"`);
  }
  if (traits?.sources === true) {
    const sourcesNode = r.deref(f.get("sources")?.value);
    if (!f.has("sources")) r.error(e.key, `${where}: a ${runner} stage needs "sources"`);
    else if (isMap(sourcesNode) && sourcesNode.items.length === 0)
      r.error(sourcesNode, `${where}: a ${runner} stage needs at least one source`);
    const outputsEntry = f.get("outputs");
    if (outputsEntry)
      r.error(outputsEntry.key, `${where}: a ${runner} stage's outputs are its sources; remove "outputs"`);
    outputs = sources.map((s): OutputSpec => ({
      name: s.name,
      path: `${FETCH_OUTPUT_DIR}/${s.name}`,
      kind: "file",
      exclude: [],
      pos: s.pos,
    }));
  } else {
    const sourcesEntry = f.get("sources");
    if (sourcesEntry)
      r.error(
        sourcesEntry.key,
        `${where}: "sources" is only for runner ${SOURCES_RUNNERS} (pin a download with an input that has url and sha256)`,
      );
  }
  const limitsEntry = f.get("limits");
  const limits = limitsEntry === undefined ? undefined : readLimits(r, limitsEntry, where);
  if (limitsEntry !== undefined && runner !== undefined) {
    const problem = limitsRunnerProblem(runner, withData);
    if (problem !== undefined) r.error(limitsEntry.key, `${where}: ${problem}`);
  }
  if (traits?.script === "required" && script === undefined && !f.has("script"))
    r.error(e.key, `${where}: runner "${runner}" needs a "script"`);
  if (script !== undefined && script.trim() === "" && traits?.script !== "refused")
    r.error(f.get("script")?.value ?? e.key, `${where} script: is empty`);

  const node: GraphNode = {
    name: e.name,
    inputs,
    outputs: outputs.map((o) => o.name),
    declared: new Set([...keysOf(r, f.get("outputs")), ...keysOf(r, f.get("sources"))]),
    broken: r.issues.length > issuesBefore,
  };
  if (!nameOk) return { spec: undefined, node: undefined };
  if (runner === undefined || clampMtime === undefined) return { spec: undefined, node };
  const spec: StageSpec = {
    name: e.name,
    runner,
    ...(description === undefined ? {} : { description }),
    requires,
    inputs,
    outputs,
    env,
    ...(script === undefined ? {} : { script }),
    sources,
    with: withData,
    timeoutMs,
    retries,
    ...(retryOn === undefined ? {} : { retryOn }),
    ...(estimateMs === undefined ? {} : { estimateMs }),
    clampMtime,
    ...(limits === undefined ? {} : { limits }),
    pos: r.pos(e.key),
  };
  return { spec, node };
}
