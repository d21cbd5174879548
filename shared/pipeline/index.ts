/**
 * Pipelines: parse and validate YAML files (with positions), apply params, and walk the stage
 * graph. See types.ts for the model and its glossary.
 */
export * from "./types.js";
export { PipelineError, formatIssue, type PipelineIssue } from "./pipeline-error.js";
export { parsePipeline, DEFAULT_PLATFORM } from "./parse.js";
export { loadPipeline } from "./load.js";
export { readPipelineFile } from "./read-file.js";
export { resolvePipeline } from "./resolve.js";
export {
  parseParamArgs,
  paramValues,
  missingParams,
  MAX_PARAM_VALUE_BYTES,
  type ParamValueOptions,
} from "./params.js";
export {
  stageDeps,
  topoOrder,
  downstreamOf,
  upstreamOf,
  criticalPath,
  priorities,
  type GraphStage,
} from "./graph.js";
export { FETCH_OUTPUT_DIR } from "./parse-stage.js";
export { DEFAULT_RETRY_ON, parseRetryCondition } from "./retry-on.js";
export { describeLimits, formatBytes, hasLimits, limitsRunnerProblem, parseMemoryLimit } from "./limits.js";
export { envNameProblem, NAME_RE, pathProblem, RELEASE_NAME_RE, urlProblem } from "./rules.js";
export { type EtaStage, runEta, type RunEta } from "./run-eta.js";
export { closest, didYouMean } from "./suggest.js";
export { DATA, type TemplateContext } from "./template-context.js";
export { hasTemplates } from "./templates.js";
