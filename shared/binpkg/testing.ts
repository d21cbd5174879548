/** Test-only surface of shared/binpkg/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { archiveName, compressionFromMagic, splitArchiveName } from "./compression.js";
export { memberDigestsOf } from "./digests.js";
export { entryLine, manifestLine, manifestMismatch, parseManifest } from "./manifest.js";
export { metadataText } from "./metadata-tar.js";
export { readThrough } from "./read-through.js";
export { encodeXpakSegment, isXpakTrailer, parseXpakSegment } from "./xpak.js";
export { indexValue } from "./metadata-tar.js";
