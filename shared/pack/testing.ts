/**
 * Test-only surface of shared/pack/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { parseVerboseLine } from "./gnu-listing.js";
export { readRawHeader } from "./header-fields.js";
export { permissionString } from "./member-listing.js";
export { packTreeInto } from "./pack-tree.js";
export { scanArchive } from "./scan-archive.js";
