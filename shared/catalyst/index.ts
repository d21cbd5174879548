/**
 * Catalyst data as pure functions, for the coordinator (checks, plans) and the agent's
 * catalyst runner alike: spec parsing and writing with Catalyst's syntax, template rendering
 * the way catalyst-auto does it, per-stage overrides, releng edits, catalyst.conf, and the
 * file layout Catalyst uses under its storedir.
 */
export { datestampFromTimestamp } from "./template.js";
export { overrideValueProblem, SPEC_KEY_RE } from "./overrides.js";
export { renderSpec } from "./render.js";
export { applyRelengEdit, EDIT_OPERATIONS, type RelengEdit } from "./releng-edits.js";
export {
  renderCatalystConf,
  confOptions,
  confString,
  RUNNER_CONF_DEFAULTS,
  type RenderedConf,
  type TomlDataValue,
} from "./catalyst-conf.js";
export {
  specLayout,
  pkgcacheSubpath,
  snapshotFileName,
  seedExtensionFromName,
  seedExtensionFromMagic,
  isSideFile,
  SEED_EXTENSIONS,
  type SpecLayout,
} from "./layout.js";
export {
  nameProblem as pathNameProblem,
  subpathProblem,
  specPathValueProblem,
  MAX_NAME_CHARS,
  MAX_SUBPATH_CHARS,
  nameProblem,
} from "./path-rules.js";
export { confValueProblem } from "./conf-check.js";
export { overrideKeyProblem, specKeyProblems, unreleasedSharedFiles } from "./spec-keys.js";
export { CATALYST_DATA_VERSION } from "./upstream-4.1.1.js";
export { readGitArchiveHead, catalystAutoTimestamp, type GitArchiveInfo } from "./git-archive.js";
