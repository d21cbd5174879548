/** Test-only surface of shared/pipeline/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { parseCpuLimit } from "./limits.js";
export { MAX_REPORTED_ISSUES } from "./pipeline-error.js";
export { SOURCE_URL_SCHEMES } from "./rules.js";
export { shellQuoteAt } from "./shell-quoting.js";
export { formatIssue } from "./pipeline-error.js";
export { paramValues, MAX_PARAM_VALUE_BYTES } from "./params.js";
export { upstreamOf } from "./graph.js";
export { parseRetryCondition } from "./retry-on.js";
export { type EtaStage } from "./run-eta.js";
