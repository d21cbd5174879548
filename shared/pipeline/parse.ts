/**
 * parsePipeline: YAML text → validated PipelineSpec, or a PipelineError listing every problem
 * with its file:line:col. YAML syntax errors stop the pass (what follows would be noise);
 * duplicate keys do not, so they are reported together with everything else.
 */
import { basename, dirname, resolve } from "node:path";
import { isMap, type ParsedNode } from "yaml";
import { readYamlDocument } from "../yaml/index.js";
import { checkGraph, type GraphNode } from "./check-graph.js";
import { checkName } from "./parse-io.js";
import { readEnv, readStage } from "./parse-stage.js";
import { PipelineError } from "./pipeline-error.js";
import { nameProblem, platformProblem } from "./rules.js";
import { didYouMean, listNames } from "./suggest.js";
import { hasTemplates, paramRefOf, scanTemplates } from "./templates.js";
import type { ParamSpec, PipelineSpec, StageSpec } from "./types.js";
import { YamlReader, type Entry } from "./yaml-reader.js";

const TOP_KEYS = ["pipeline", "description", "platform", "params", "env", "stages"] as const;
const PARAM_KEYS = ["default", "description", "required"] as const;
export const DEFAULT_PLATFORM = "linux/x86_64";

function readParam(r: YamlReader, e: Entry): ParamSpec | undefined {
  const where = `param "${e.name}"`;
  if (!checkName(r, e, where)) return undefined;
  const value = r.deref(e.value);
  let def: string | undefined;
  let description: string | undefined;
  let at: ParsedNode | undefined = value;
  if (value !== undefined && isMap(value)) {
    const f = r.fields(value, e.key, where, PARAM_KEYS);
    const req = f.get("required");
    const required = req && r.boolean(req.value, req.key, `${where} required`);
    const d = f.get("default");
    if (required === true && d !== undefined) {
      r.error(d.key, `${where}: a required param has no default (remove one of "required" and "default")`);
      return undefined;
    }
    const desc = f.get("description");
    description = desc && r.string(desc.value, desc.key, `${where} description`);
    if (required === true)
      return {
        name: e.name,
        ...(description === undefined ? {} : { description }),
        pos: r.pos(e.key),
      };
    if (d === undefined) {
      r.error(e.key, `${where}: needs "default" (or "required: true" when every run must give it)`);
      return undefined;
    }
    def = r.string(d.value, d.key, `${where} default`, true);
    at = d.value;
  } else {
    def = r.string(value, e.key, `${where} default`, true);
  }
  if (def !== undefined && hasTemplates(def) && paramRefOf(def) === undefined) {
    r.error(
      at ?? e.key,
      `${where}: a default may only be another param as a whole ("\${{ params.NAME }}"), not text around it`,
    );
    return undefined;
  }
  if (def === undefined) return undefined;
  return {
    name: e.name,
    default: def,
    ...(description === undefined ? {} : { description }),
    pos: r.pos(e.key),
  };
}

/** Every string value is checked for `${{ … }}` templates naming known params. */
function checkTemplates(r: YamlReader, root: ParsedNode, source: string, params: ReadonlySet<string>): void {
  const known = [...params].sort();
  r.eachString(root, (text, node) => {
    if (!hasTemplates(text)) return;
    const raw = source.slice(node.range[0], node.range[1]);
    const { refs, unterminated } = scanTemplates(text);
    let from = 0;
    for (const ref of refs) {
      const found = raw.indexOf(ref.text, from);
      from = found >= 0 ? found + ref.text.length : from;
      const at = found >= 0 ? node.range[0] + found : node;
      if (ref.param === undefined)
        r.error(at, `unsupported expression "${ref.text}" (only \${{ params.NAME }} is supported)`);
      else if (!params.has(ref.param))
        r.error(
          at,
          `unknown param "${ref.param}" in "${ref.text}"${didYouMean(ref.param, known)}; ` +
            (known.length === 0 ? "the pipeline declares no params" : `known params: ${listNames(known)}`),
        );
    }
    if (unterminated.length > 0) r.error(node, `"\${{" without a closing "}}"`);
  });
}

function defaultName(file: string): string {
  return basename(dirname(resolve(file)));
}

/**
 * Parses and validates a pipeline. The text is held to YAML_BOUNDS (size, nesting depth, keys,
 * alias expansion) before any node is built; a document past one is refused with one error at
 * the place it breaks the bound.
 */
export function parsePipeline(text: string, file: string): PipelineSpec {
  const read = readYamlDocument(text, { keepSourceTokens: true, merge: true });
  if (read.t === "refused") {
    const { line, col } = read.lines.linePos(read.problem.offset);
    throw new PipelineError([
      { pos: { file, line: Math.max(line, 1), col: Math.max(col, 1) }, message: read.problem.message },
    ]);
  }
  const { doc, lines } = read;
  const r = new YamlReader(file, doc, lines);
  for (const err of doc.errors) r.error(err.pos[0], err.message);
  if (doc.errors.length > 0) throw new PipelineError(r.issues);
  const root = doc.contents;
  if (root === null || !isMap(root)) {
    r.error(root ?? 0, `top level: expected a mapping with "stages", got ${r.describe(root ?? undefined)}`);
    throw new PipelineError(r.issues);
  }

  const f = r.fields(root, root, "top level", TOP_KEYS);
  const nameEntry = f.get("pipeline");
  let name = nameEntry && r.string(nameEntry.value, nameEntry.key, "pipeline");
  const nameIssue = name === undefined ? undefined : nameProblem(name);
  if (nameEntry && nameIssue !== undefined)
    r.error(nameEntry.value ?? nameEntry.key, `pipeline: ${nameIssue}`);
  name ??= defaultName(file);
  const descEntry = f.get("description");
  const description = descEntry && r.string(descEntry.value, descEntry.key, "description");
  const platformEntry = f.get("platform");
  const platform = platformEntry
    ? r.string(platformEntry.value, platformEntry.key, "platform")
    : DEFAULT_PLATFORM;
  const platformIssue = platform === undefined ? undefined : platformProblem(platform);
  if (platformEntry && platformIssue !== undefined)
    r.error(platformEntry.value ?? platformEntry.key, platformIssue);

  const params: ParamSpec[] = [];
  const paramsEntry = f.get("params");
  for (const e of paramsEntry ? (r.entries(paramsEntry.value, paramsEntry.key, "params") ?? []) : []) {
    const p = readParam(r, e);
    if (p) params.push(p);
  }
  const envEntry = f.get("env");
  const env = envEntry ? readEnv(r, envEntry, "pipeline") : {};

  const stages: StageSpec[] = [];
  const nodes: GraphNode[] = [];
  const stagesEntry = r.require(f, "stages", root, "top level");
  const stageEntries = stagesEntry ? (r.entries(stagesEntry.value, stagesEntry.key, "stages") ?? []) : [];
  if (stagesEntry && stageEntries.length === 0 && isMap(r.deref(stagesEntry.value)))
    r.error(stagesEntry.key, "stages: a pipeline needs at least one stage");
  const seen = new Set<string>();
  for (const e of stageEntries) {
    if (seen.has(e.name)) continue; // duplicate key, already reported
    seen.add(e.name);
    const { spec, node } = readStage(r, e);
    if (spec) stages.push(spec);
    if (node) nodes.push(node);
  }
  const byName = new Map(params.map((p) => [p.name, p]));
  for (const p of params) {
    const ref = p.default === undefined ? undefined : paramRefOf(p.default);
    const target = ref === undefined ? undefined : byName.get(ref);
    if (ref === undefined || target === undefined) continue; // unknown names: checkTemplates
    if (ref === p.name || (target.default !== undefined && paramRefOf(target.default) !== undefined))
      r.errorAt(
        p.pos,
        `param "${p.name}": its default names param "${ref}", ${ref === p.name ? "itself" : "whose default is itself another param"} (one level only)`,
      );
  }

  r.issues.push(...checkGraph(nodes));
  checkTemplates(r, root, text, new Set(params.map((p) => p.name)));

  if (r.issues.length > 0 || platform === undefined) throw new PipelineError(r.issues);
  return {
    name,
    file,
    ...(description === undefined ? {} : { description }),
    platform,
    params,
    env,
    stages,
    source: text,
  };
}
