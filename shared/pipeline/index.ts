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
  type GraphInput,
} from "./graph.js";
export { FETCH_OUTPUT_DIR } from "./parse-stage.js";
export { DEFAULT_RETRY_ON, parseRetryCondition } from "./retry-on.js";
