/**
 * The farm binhost's foundations: portage's `Packages` index format (split into blocks, read,
 * write, sort), the index entry of a binary package, and portage's package-name rules and file
 * layout.
 */
export {
  nextTimestamp,
  parsePackages,
  renderPackages,
  sortPackages,
  splitPackagesBlocks,
  withIndexDefaults,
  type PackagesBlock,
  type PackagesIndex,
} from "./packages-index.js";
export { stanzaFor, type StanzaSource } from "./stanza.js";
export { isCategory, packagePath, splitPf, type BinpkgExtension } from "./names.js";
export { evaluateDeps, normaliseSpace } from "./dep-reduce.js";
export { checkProfileHeader, mergeProfileHeader, profileHeaderOf } from "./profile-header.js";
