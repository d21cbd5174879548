/**
 * Test-only surface of shared/pipeline/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { parseCpuLimit } from "./limits.js";
export { MAX_REPORTED_ISSUES, formatIssue } from "./pipeline-error.js";
export { SOURCE_URL_SCHEMES } from "./rules.js";
export { shellQuoteAt } from "./shell-quoting.js";
export { paramValues, MAX_PARAM_VALUE_BYTES } from "./params.js";
export { upstreamOf } from "./graph.js";
export { parseRetryCondition } from "./retry-on.js";
export { type EtaStage } from "./run-eta.js";
