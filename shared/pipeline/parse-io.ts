/**
 * Parsing of a stage's inputs, outputs and fetch sources. References (`from: stage.output`) are
 * only split here; whether they exist is checked once every stage is known (check-graph.ts).
 */
import { isMap, isScalar, type ParsedNode } from "yaml";
import { blankTemplates, hasTemplates } from "./templates.js";
import { nameProblem, pathProblem, releaseNameProblem, sha256Problem, urlProblem } from "./rules.js";
import type { Entry, YamlReader } from "./yaml-reader.js";
import type { InputSpec, OutputKind, OutputSpec, PinnedSource, SourcePos } from "./types.js";

const INPUT_KEYS = ["from", "url", "sha256", "artifact", "release", "path", "unpack"] as const;
const OUTPUT_KEYS = ["path", "kind", "exclude"] as const;
const SOURCE_KEYS = ["url", "sha256"] as const;
const OUTPUT_KINDS: readonly OutputKind[] = ["tree", "file"];

/** Reports a bad entry name; returns whether it is valid. */
export function checkName(r: YamlReader, e: Entry, where: string): boolean {
  const problem = nameProblem(e.name);
  if (problem !== undefined) r.error(e.key, `${where}: ${problem}`);
  return problem === undefined;
}

/** A workspace-relative path; templates are validated again after params are applied. */
export function readPath(
  r: YamlReader,
  node: ParsedNode | undefined,
  at: ParsedNode,
  where: string,
): string | undefined {
  const path = r.string(node, at, where);
  if (path === undefined) return undefined;
  const problem = pathProblem(blankTemplates(path));
  if (problem !== undefined) r.error(node ?? at, `${where}: ${problem}`);
  return problem === undefined ? path : undefined;
}

function readPin(
  r: YamlReader,
  fields: Map<string, Entry>,
  at: ParsedNode,
  where: string,
): PinnedSource | undefined {
  const urlEntry = r.require(fields, "url", at, where);
  const shaEntry = r.require(fields, "sha256", at, where);
  const url = urlEntry && r.string(urlEntry.value, urlEntry.key, `${where} url`);
  const sha = shaEntry && r.string(shaEntry.value, shaEntry.key, `${where} sha256`);
  let ok = url !== undefined && sha !== undefined;
  // A URL starting with a param (a mirror) is only checked once the param is applied.
  if (url !== undefined && urlEntry !== undefined && !url.trimStart().startsWith("${{")) {
    const problem = urlProblem(blankTemplates(url));
    if (problem !== undefined) r.error(urlEntry.value ?? urlEntry.key, `${where}: ${problem}`);
    ok &&= problem === undefined;
  }
  if (sha !== undefined && shaEntry !== undefined && !hasTemplates(sha)) {
    const problem = sha256Problem(sha);
    if (problem !== undefined) r.error(shaEntry.value ?? shaEntry.key, `${where}: ${problem}`);
    ok &&= problem === undefined;
  }
  return ok && url !== undefined && sha !== undefined ? { url, sha256: sha } : undefined;
}

function readReference(
  r: YamlReader,
  node: ParsedNode | undefined,
  at: ParsedNode,
  where: string,
): { stage: string; output: string } | undefined {
  const text = r.string(node, at, where);
  if (text === undefined) return undefined;
  const m = /^([^.]+)\.([^.]+)$/.exec(text);
  const stage = m?.[1];
  const output = m?.[2];
  if (stage === undefined || output === undefined || nameProblem(stage) || nameProblem(output)) {
    r.error(node ?? at, `${where}: expected a reference "<stage>.<output>", got "${text}"`);
    return undefined;
  }
  return { stage, output };
}

function readInput(r: YamlReader, e: Entry, stageWhere: string): InputSpec | undefined {
  const where = `${stageWhere} input "${e.name}"`;
  if (!checkName(r, e, where)) return undefined;
  const pos: SourcePos = r.pos(e.key);
  const defaultPath = `inputs/${e.name}`;
  const value = r.deref(e.value);
  if (value !== undefined && isScalar(value)) {
    const ref = readReference(r, value, e.key, where);
    return ref && { t: "stage", name: e.name, ...ref, path: defaultPath, unpack: true, pos };
  }
  if (value === undefined || !isMap(value)) {
    r.error(value ?? e.key, `${where}: expected "<stage>.<output>" or a mapping, got ${r.describe(value)}`);
    return undefined;
  }
  const f = r.fields(value, e.key, where, INPUT_KEYS);
  const pathEntry = f.get("path");
  const path = pathEntry ? readPath(r, pathEntry.value, pathEntry.key, `${where} path`) : defaultPath;
  const unpackEntry = f.get("unpack");
  const unpack = unpackEntry && r.boolean(unpackEntry.value, unpackEntry.key, `${where} unpack`);
  const from = f.get("from");
  const artifact = f.get("artifact");
  const kinds = ["from", "artifact", "release", "url"].filter((k) => f.has(k));
  if (kinds.length > 1) {
    const second = f.get(kinds[1] ?? "");
    r.error(
      second?.key ?? e.key,
      `${where}: "${kinds[0] ?? ""}" and "${kinds[1] ?? ""}" cannot be combined (an input is an upstream output, a store artifact, a release or a pinned source)`,
    );
    return undefined;
  }
  if (artifact !== undefined) {
    const sha = f.get("sha256");
    if (sha)
      r.error(sha.key, `${where}: "sha256" belongs to a pinned source; "artifact" is the digest itself`);
    const digest = r.string(artifact.value, artifact.key, `${where} artifact`);
    if (digest !== undefined && !hasTemplates(digest)) {
      const problem = sha256Problem(digest);
      if (problem !== undefined) {
        r.error(artifact.value ?? artifact.key, `${where} artifact: ${problem}`);
        return undefined;
      }
    }
    if (digest === undefined || path === undefined || sha) return undefined;
    return { t: "artifact", name: e.name, digest, path, unpack: unpack ?? false, pos };
  }
  const release = f.get("release");
  if (release !== undefined) {
    const sha = f.get("sha256");
    if (sha) r.error(sha.key, `${where}: "sha256" belongs to a pinned source; a release names its digest`);
    const name = r.string(release.value, release.key, `${where} release`);
    const problem = name === undefined ? undefined : releaseNameProblem(name);
    if (problem !== undefined) r.error(release.value ?? release.key, `${where} release: ${problem}`);
    if (name === undefined || problem !== undefined || path === undefined || sha) return undefined;
    return { t: "artifact", name: e.name, digest: "", release: name, path, unpack: unpack ?? false, pos };
  }
  if (from !== undefined) {
    for (const k of ["url", "sha256"]) {
      const extra = f.get(k);
      if (extra)
        r.error(extra.key, `${where}: "${k}" cannot be combined with "from" (an input is one or the other)`);
    }
    const ref = readReference(r, from.value, from.key, `${where} from`);
    if (ref === undefined || path === undefined) return undefined;
    return { t: "stage", name: e.name, ...ref, path, unpack: unpack ?? true, pos };
  }
  if (!f.has("url") && !f.has("sha256")) {
    r.error(
      e.key,
      `${where}: needs "from" (an upstream output), "artifact" (a digest in the store), "release" (a release pointer) or "url" + "sha256" (a pinned source)`,
    );
    return undefined;
  }
  const source = readPin(r, f, e.key, where);
  if (source === undefined || path === undefined) return undefined;
  return { t: "source", name: e.name, source, path, unpack: unpack ?? false, pos };
}

/**
 * Two inputs may not be placed at the same path or one inside the other. Each input is checked
 * against the earlier ones through maps of their paths and of their parent directories, so the
 * cost grows with the number of inputs times their depth, not with the square of the number.
 * Paths holding templates are checked once params are applied.
 */
export function checkInputPaths(r: YamlReader, inputs: readonly InputSpec[], where: string): void {
  const at = new Map<string, InputSpec>(); // the first input placed at a path
  const under = new Map<string, InputSpec>(); // the first input placed below a directory
  for (const b of inputs) {
    if (hasTemplates(b.path)) continue;
    const parts = b.path.split("/");
    const parents = parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
    const candidates = [at.get(b.path), under.get(b.path), ...parents.map((p) => at.get(p))];
    const a = candidates
      .filter((x): x is InputSpec => x !== undefined)
      .sort((x, y) => inputs.indexOf(x) - inputs.indexOf(y))[0];
    if (a !== undefined)
      r.errorAt(
        b.pos,
        `${where} input "${b.name}": path "${b.path}" overlaps input "${a.name}" at "${a.path}"`,
      );
    if (!at.has(b.path)) at.set(b.path, b);
    for (const p of parents) if (!under.has(p)) under.set(p, b);
  }
}

export function readInputs(r: YamlReader, e: Entry, stageWhere: string): InputSpec[] {
  const out: InputSpec[] = [];
  for (const item of r.entries(e.value, e.key, `${stageWhere} inputs`) ?? []) {
    const input = readInput(r, item, stageWhere);
    if (input) out.push(input);
  }
  return out;
}

function readOutput(r: YamlReader, e: Entry, stageWhere: string): OutputSpec | undefined {
  const where = `${stageWhere} output "${e.name}"`;
  if (!checkName(r, e, where)) return undefined;
  const pos = r.pos(e.key);
  const value = r.deref(e.value);
  if (value !== undefined && isScalar(value)) {
    const path = readPath(r, value, e.key, `${where} path`);
    return path === undefined ? undefined : { name: e.name, path, exclude: [], pos };
  }
  if (value === undefined || !isMap(value)) {
    r.error(value ?? e.key, `${where}: expected a path or a mapping, got ${r.describe(value)}`);
    return undefined;
  }
  const f = r.fields(value, e.key, where, OUTPUT_KEYS);
  const pathEntry = r.require(f, "path", e.key, where);
  const path = pathEntry && readPath(r, pathEntry.value, pathEntry.key, `${where} path`);
  let kind: OutputKind | undefined;
  const kindEntry = f.get("kind");
  const kindText = kindEntry && r.string(kindEntry.value, kindEntry.key, `${where} kind`);
  if (kindEntry && kindText !== undefined) {
    kind = OUTPUT_KINDS.find((k) => k === kindText);
    if (kind === undefined)
      r.error(
        kindEntry.value ?? kindEntry.key,
        `${where}: invalid kind "${kindText}" (use "tree" or "file")`,
      );
  }
  const excludeEntry = f.get("exclude");
  const exclude = excludeEntry ? r.strings(excludeEntry.value, excludeEntry.key, `${where} exclude`) : [];
  if (excludeEntry && kind === "file")
    r.error(excludeEntry.key, `${where}: "exclude" only applies to tree outputs, not kind "file"`);
  if (path === undefined || exclude === undefined || (kindEntry && kind === undefined)) return undefined;
  return { name: e.name, path, ...(kind === undefined ? {} : { kind }), exclude, pos };
}

export function readOutputs(r: YamlReader, e: Entry, stageWhere: string): OutputSpec[] {
  const out: OutputSpec[] = [];
  for (const item of r.entries(e.value, e.key, `${stageWhere} outputs`) ?? []) {
    const output = readOutput(r, item, stageWhere);
    if (output) out.push(output);
  }
  return out;
}

export function readSources(
  r: YamlReader,
  e: Entry,
  stageWhere: string,
): Array<{ name: string; source: PinnedSource; pos: SourcePos }> {
  const out: Array<{ name: string; source: PinnedSource; pos: SourcePos }> = [];
  for (const item of r.entries(e.value, e.key, `${stageWhere} sources`) ?? []) {
    const where = `${stageWhere} source "${item.name}"`;
    if (!checkName(r, item, where)) continue;
    const value = r.deref(item.value);
    if (value === undefined || !isMap(value)) {
      r.error(
        value ?? item.key,
        `${where}: expected a mapping with url and sha256, got ${r.describe(value)}`,
      );
      continue;
    }
    const f = r.fields(value, item.key, where, SOURCE_KEYS);
    const source = readPin(r, f, item.key, where);
    if (source) out.push({ name: item.name, source, pos: r.pos(item.key) });
  }
  return out;
}
