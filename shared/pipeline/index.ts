/**
 * Pipelines: parse and validate YAML files (with positions), apply params, and walk the stage
 * graph. See types.ts for the model and its glossary.
 */
export * from "./types.js";
export { PipelineError, type PipelineIssue } from "./pipeline-error.js";
export { parsePipeline } from "./parse.js";
export { loadPipeline } from "./load.js";
export { readPipelineFile } from "./read-file.js";
export { resolvePipeline } from "./resolve.js";
export { parseParamArgs, missingParams } from "./params.js";
export {
  stageDeps,
  topoOrder,
  downstreamOf,
  upstreamOf,
  criticalPath,
  priorities,
  type GraphStage,
  type GraphInput,
} from "./graph.js";
export { DEFAULT_RETRY_ON } from "./retry-on.js";
export { describeLimits, formatBytes, hasLimits, limitsRunnerProblem, parseMemoryLimit } from "./limits.js";
export { RELEASE_NAME_RE, urlProblem } from "./rules.js";
export { runEta } from "./run-eta.js";
export { parseJobStage } from "./stage-schema.js";
export { type TemplateContext } from "./template-context.js";
