/**
 * Test-only surface of shared/catalyst/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { GUARANTEED_DIGESTS, KERNEL_KEY_SUFFIXES } from "./upstream-4.1.1.js";
export { parseSpec, specSettings, serializeSpec, type SpecValue } from "./spec.js";
export { renderTemplate, type TemplateVars } from "./template.js";
export { applySpecOverrides } from "./overrides.js";
export { type EditResult } from "./releng-edits.js";
export { targetValidKeys, targetRequiredKeys, CATALYST_TARGETS } from "./spec-keys.js";
export { SHAREDIR_FILES_SINCE, type CatalystTarget } from "./upstream-4.1.1.js";
