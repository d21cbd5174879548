/**
 * Test-only surface of shared/binpkg/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { archiveName, compressionFromMagic, splitArchiveName } from "./compression.js";
export { memberDigestsOf } from "./digests.js";
export { entryLine, manifestLine, manifestMismatch, parseManifest } from "./manifest.js";
export { metadataText, indexValue } from "./metadata-tar.js";
export { readThrough } from "./read-through.js";
export { encodeXpakSegment, isXpakTrailer, parseXpakSegment } from "./xpak.js";
