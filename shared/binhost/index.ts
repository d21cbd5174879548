/**
 * The farm binhost's foundations: portage's `Packages` index format (split into blocks, read,
 * write, sort), the index entry of a binary package, and portage's package-name rules and file
 * layout.
 */
export {
  nextTimestamp,
  parsePackages,
  renderPackages,
  splitPackagesBlocks,
  withIndexDefaults,
  type PackagesIndex,
} from "./packages-index.js";
export { stanzaFor } from "./stanza.js";
export { packagePath, splitPf } from "./names.js";
export { checkProfileHeader, mergeProfileHeader, profileHeaderOf } from "./profile-header.js";
