/**
 * The pipeline model.
 *
 * Glossary
 * - pipeline: a YAML file declaring stages and the artifacts flowing between them (a DAG).
 * - stage: one unit of work with a runner kind, inputs, named outputs.
 * - input: an upstream stage's output (`from: stage.output`) or a pinned source (url + sha256),
 *   placed at `path` inside the stage's workspace before the runner starts.
 * - output: a named artifact the stage produces, found at `path` in the workspace afterwards:
 *   a directory is packed as a deterministic tar.zst ("tree"), a regular file stored as is ("file").
 * - param: a named string with a default, overridable at submit (`--param k=v`), referenced in
 *   strings as `${{ params.NAME }}`.
 * - cache key: see shared/cache-key (sha256 over the canonical resolved stage + input digests).
 *
 * Two layers: `PipelineSpec` is the file as parsed and validated (params not yet applied,
 * positions kept for errors); `ResolvedStage` is one stage with params substituted, ready to
 * be keyed and run.
 */
import type { Digest } from "../digest.js";
import type { RunnerKind } from "../runner-kinds.js";

/** 1-based line and column in the pipeline file. */
export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

/** The runner kinds and their traits are one table: shared/runner-kinds.ts. */
export type { RunnerKind };

export type OutputKind = "tree" | "file";

export interface ParamSpec {
  name: string;
  /** Absent: the param is required (`required: true`); every run must give it. */
  default?: string;
  description?: string;
  pos: SourcePos;
}

/** A pinned source: downloaded by URL, verified against sha256 before anything uses it. */
export interface PinnedSource {
  url: string;
  sha256: Digest;
}

export type InputSpec =
  | {
      t: "stage";
      name: string;
      /** Upstream stage name. */
      stage: string;
      /** Output name of that stage. */
      output: string;
      /** Workspace-relative path where the input is placed; default `inputs/<name>`. */
      path: string;
      /** Unpack a tree artifact (default) or place the blob as a file (`unpack: false`). */
      unpack: boolean;
      pos: SourcePos;
    }
  | {
      t: "source";
      name: string;
      source: PinnedSource;
      path: string;
      /** Pinned sources are placed as files unless `unpack: true` (then must be a tar archive). */
      unpack: boolean;
      pos: SourcePos;
    }
  | {
      /** An artifact already in the store, by digest (`stagefarm import`, another run's output). */
      t: "artifact";
      name: string;
      /** sha256 hex; usually a param (`${{ params.seed }}`), checked once params are applied.
       *  Empty for a `release:` input until the coordinator binds it at submit. */
      digest: string;
      /** A release pointer (`release: latest-stage3-amd64-openrc`, shared/release): resolved to
       *  the digest it names when the run is submitted, and recorded in the run. */
      release?: string;
      path: string;
      /** Placed as a file unless `unpack: true` (then it must be a tar archive). */
      unpack: boolean;
      pos: SourcePos;
    };

export interface OutputSpec {
  name: string;
  /** Workspace-relative path the runner leaves the output at. */
  path: string;
  /** Declared kind; when absent the kind follows what is on disk (dir → tree, file → file). */
  kind?: OutputKind;
  /** Paths (tar --exclude patterns, relative to the output root) left out of a tree. */
  exclude: string[];
  pos: SourcePos;
}

/**
 * Resource limits of one stage's processes (`limits: { memory: "8G", cpu: 2 }`), enforced by
 * the agent with cgroups. Not part of the cache key: a limit decides whether a build fits, never
 * what it produces.
 */
export interface StageLimits {
  /** Memory (RAM) the stage's processes may use together, in bytes. */
  memoryBytes?: number;
  /** CPU time per wall-clock time (0.5: half a CPU, 2: two CPUs). */
  cpu?: number;
}

export interface StageSpec {
  name: string;
  runner: RunnerKind;
  /** Free text shown by plan/run. */
  description?: string;
  /** Labels an agent must have to run this stage (its pool). */
  requires: string[];
  inputs: InputSpec[];
  outputs: OutputSpec[];
  env: Record<string, string>;
  /** Shell script (shell/chroot runners). */
  script?: string;
  /** Pinned downloads (fetch runner): each becomes an output of the same name. */
  sources: Array<{ name: string; source: PinnedSource; pos: SourcePos }>;
  /** Runner-specific configuration (emerge/catalyst), validated by the runner. */
  with: Record<string, unknown>;
  timeoutMs: number;
  retries: number;
  /** Which failures `retries` retries (./retry-on.ts); absent: all of them. */
  retryOn?: RetryCondition[];
  /** Expected duration when there is no history (plan's critical path). */
  estimateMs?: number;
  /** Clamp every mtime in tree outputs to SOURCE_DATE_EPOCH (default true: reproducible). */
  clampMtime: boolean;
  /** Memory and CPU limits (shell, chroot and emerge-in-chroot stages). */
  limits?: StageLimits;
  pos: SourcePos;
}

export interface PipelineSpec {
  /** Pipeline name (defaults to the file's directory name). */
  name: string;
  file: string;
  description?: string;
  /** Platform the stages build for, part of every cache key. e.g. "linux/x86_64". */
  platform: string;
  params: ParamSpec[];
  /** Pipeline-level env merged under each stage's env. */
  env: Record<string, string>;
  /** Stages in file order. */
  stages: StageSpec[];
  /** Raw file text, for error excerpts. */
  source: string;
}

/** One stage with params substituted: what the cache key and the runner see. */
export interface ResolvedStage {
  pipeline: string;
  name: string;
  runner: RunnerKind;
  requires: string[];
  inputs: InputSpec[];
  outputs: OutputSpec[];
  env: Record<string, string>;
  script?: string;
  sources: Array<{ name: string; source: PinnedSource }>;
  with: Record<string, unknown>;
  timeoutMs: number;
  retries: number;
  /** Which failures `retries` retries (./retry-on.ts); absent: all of them. Not part of the cache key. */
  retryOn?: RetryCondition[];
  clampMtime: boolean;
  platform: string;
  /** Names of the params this stage referenced (after substitution, for display). */
  paramsUsed: string[];
  /**
   * Required params this stage references that were not given (only when resolved for a plan
   * with `allowMissing`); their templates are left in place and the stage has no key yet.
   */
  paramsMissing?: string[];
  /** Free text shown by plan/run (params substituted). Not part of the cache key. */
  description?: string;
  /** Expected duration when there is no history (plan's critical path). Not part of the cache key. */
  estimateMs?: number;
  /** Memory and CPU limits enforced by the agent. Not part of the cache key. */
  limits?: StageLimits;
}

/**
 * A failure a stage's `retries` may retry (`retry_on:`, ./retry-on.ts): the farm's own
 * (`infra`), the stage's deadline (`timeout`), or the script's exit status (any, or one).
 */
export type RetryCondition = { t: "infra" } | { t: "timeout" } | { t: "exit"; code?: number };

/** Digest + kind of an artifact that fills an input or an output. */
export interface ArtifactRef {
  digest: Digest;
  size: number;
  kind: OutputKind;
}
