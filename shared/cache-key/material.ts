/**
 * What goes into a cache key. The key is input-addressed by the content digests of the inputs,
 * never by upstream keys: an upstream stage that rebuilds to identical bytes leaves every
 * downstream key unchanged (early cutoff).
 *
 * In: key schema version, runner kind + version, platform, the normalised script, the merged
 * env, each input (digest, kind, path, unpack; a store artifact by its digest), fetch sources (url, sha256), outputs (path,
 * kind, exclude), runner data (`with`), clampMtime.
 * Out: stage and pipeline names, description, requires, timeout, retries, estimate, params the
 * stage does not use (values are already substituted), input `from` references, YAML formatting.
 */
import { assertDigest, type Digest } from "../digest.js";
import { StagefarmError } from "../errors.js";
import type { ArtifactRef, OutputKind, ResolvedStage, RunnerKind } from "../pipeline/index.js";
import { RUNNER_VERSIONS } from "../runner-kinds.js";
import { normaliseScript } from "./normalise-script.js";

/** Bump when the material's shape or meaning changes: every key changes with it. */
export const KEY_SCHEMA_VERSION = 1;

export interface KeyMaterial {
  v: number;
  runner: { kind: RunnerKind; version: string };
  platform: string;
  script: string | null;
  env: Record<string, string>;
  inputs: Record<string, { digest: Digest; kind: OutputKind; path: string; unpack: boolean }>;
  sources: Record<string, { url: string; sha256: Digest }>;
  outputs: Record<string, { path: string; kind: OutputKind | null; exclude: string[] }>;
  with: Record<string, unknown>;
  clampMtime: boolean;
}

export interface KeyOptions {
  /** Runner versions to key with (tests); default RUNNER_VERSIONS. */
  runnerVersions?: Readonly<Record<RunnerKind, string>>;
}

function inputMaterial(
  stage: ResolvedStage,
  inputs: Readonly<Record<string, ArtifactRef | undefined>>,
): KeyMaterial["inputs"] {
  const out: KeyMaterial["inputs"] = {};
  for (const input of stage.inputs) {
    if (input.t === "source") {
      out[input.name] = { digest: input.source.sha256, kind: "file", path: input.path, unpack: input.unpack };
      continue;
    }
    if (input.t === "artifact") {
      const digest = assertDigest(input.digest, `stage "${stage.name}" input "${input.name}" artifact`);
      out[input.name] = { digest, kind: "file", path: input.path, unpack: input.unpack };
      continue;
    }
    const ref = Object.hasOwn(inputs, input.name) ? inputs[input.name] : undefined;
    if (ref === undefined)
      throw new StagefarmError(
        "internal",
        `stage "${stage.name}": no artifact for input "${input.name}" (${input.stage}.${input.output}) when computing its cache key`,
      );
    const digest = assertDigest(ref.digest, `stage "${stage.name}" input "${input.name}" digest`);
    out[input.name] = { digest, kind: ref.kind, path: input.path, unpack: input.unpack };
  }
  return out;
}

/** The plain JSON object a stage's cache key is the sha256 of (see canonicalJson). */
export function cacheKeyMaterial(
  stage: ResolvedStage,
  inputs: Readonly<Record<string, ArtifactRef | undefined>>,
  opts: KeyOptions = {},
): KeyMaterial {
  const versions = opts.runnerVersions ?? RUNNER_VERSIONS;
  return {
    v: KEY_SCHEMA_VERSION,
    runner: { kind: stage.runner, version: versions[stage.runner] },
    platform: stage.platform,
    script: stage.script === undefined ? null : normaliseScript(stage.script),
    env: { ...stage.env },
    inputs: inputMaterial(stage, inputs),
    sources: Object.fromEntries(
      stage.sources.map((s) => [s.name, { url: s.source.url, sha256: s.source.sha256 }]),
    ),
    outputs: Object.fromEntries(
      stage.outputs.map((o) => [o.name, { path: o.path, kind: o.kind ?? null, exclude: [...o.exclude] }]),
    ),
    with: stage.with,
    clampMtime: stage.clampMtime,
  };
}
