/**
 * Catalyst data as pure functions, for the coordinator (checks, plans) and the agent's
 * catalyst runner alike: spec parsing and writing with Catalyst's syntax, template rendering
 * the way catalyst-auto does it, per-stage overrides, releng edits, catalyst.conf, and the
 * file layout Catalyst uses under its storedir.
 */
export {
  parseSpec,
  specSettings,
  specString,
  serializeSpec,
  formatSpecEntry,
  type SpecDocument,
  type SpecEntry,
  type SpecValue,
} from "./spec.js";
export {
  PLACEHOLDERS,
  renderTemplate,
  unknownPlaceholders,
  datestampFromTimestamp,
  type Placeholder,
  type TemplateVars,
} from "./template.js";
export { applySpecOverrides, overrideValueProblem, SPEC_KEY_RE, type SpecOverrides } from "./overrides.js";
export { renderSpec, type RenderSpecInput, type RenderedSpec } from "./render.js";
export {
  applyRelengEdit,
  editOperations,
  EDIT_OPERATIONS,
  type EditContext,
  type EditOperation,
  type EditResult,
  type RelengEdit,
} from "./releng-edits.js";
export {
  renderCatalystConf,
  confOptions,
  confString,
  CATALYST_BUILTIN_DEFAULTS,
  RUNNER_CONF_DEFAULTS,
  type ConfLayers,
  type ForcedKey,
  type RenderedConf,
  type TomlData,
  type TomlDataValue,
} from "./catalyst-conf.js";
export {
  specLayout,
  pkgcacheSubpath,
  snapshotFileName,
  seedExtensionFromName,
  seedExtensionFromMagic,
  isSideFile,
  COMPRESSION_EXTENSIONS,
  SEED_EXTENSIONS,
  SIDE_FILE_SUFFIXES,
  type SpecLayout,
} from "./layout.js";
export {
  nameProblem as pathNameProblem,
  subpathProblem,
  specPathValueProblem,
  SPEC_NAME_KEYS,
  SPEC_SUBPATH_KEYS,
  MAX_NAME_CHARS,
  MAX_SUBPATH_CHARS,
} from "./path-rules.js";
export { confKeyProblem, confValueProblem, escapePercent, CATALYST_CONF_KEYS } from "./conf-check.js";
export {
  overrideKeyProblem,
  specKeyProblems,
  unreleasedSharedFiles,
  type UnreleasedSharedFile,
  targetValidKeys,
  targetRequiredKeys,
  CATALYST_TARGETS,
  type SpecKeyProblem,
} from "./spec-keys.js";
export {
  CATALYST_DATA_VERSION,
  SHAREDIR_FILES_SINCE,
  TARGET_KEYS,
  CONF_KEY_TYPES,
  type CatalystTarget,
} from "./upstream-4.1.1.js";
export { readGitArchiveHead, catalystAutoTimestamp, type GitArchiveInfo } from "./git-archive.js";
export { nameProblem } from "./path-rules.js";
