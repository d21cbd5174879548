/**
 * Portage binary packages: GLEP 78 gpkg (`.gpkg.tar`) and legacy xpak (`.tbz2`, `.xpak`).
 *
 * - `readBinpkg(file)` tells the format from the bytes, verifies a gpkg against its Manifest
 *   (size, BLAKE2B and SHA512 of every member; nothing missing or extra) before decompressing
 *   anything, and returns the metadata with the MD5/SHA1/SHA256/size of the whole file. The
 *   image is only streamed through the hashes, never decompressed or held in memory.
 * - `rewriteGpkgBuildId(file, id, out)` writes a copy with BUILD_ID = id and basename
 *   `<PF>-<id>`; signed packages are refused.
 * - `rewriteXpakBuildId(file, id, out)` does the same for a legacy xpak package: the tarball
 *   bytes kept, the XPAK segment replaced (portage's `tbz2.recompose_mem`).
 * - `readBinpkg(file, { payload: true })` also reads the payload (gpkg image, xpak tarball)
 *   through its decompressor and a strict tar walk, as portage would extract it.
 *
 * Errors (StagefarmError, messages name the file): damage, truncation, a file that is no
 * binary package, a Manifest mismatch (naming the member, expected vs actual) →
 * `corrupt_artifact`; metadata without CATEGORY or PF, a non-numeric BUILD_ID/BUILD_TIME, a
 * signed package given to the rewrite → `invalid_argument`; a missing file → `not_found`; an
 * aborted signal → `cancelled`. Signatures are detected (`signed`), not verified: that is for
 * portage on the installing machine (`verify-signature` in binrepos.conf).
 */
export type { BinpkgInfo } from "./types.js";
export { readBinpkg } from "./read.js";
export { rewriteGpkgBuildId } from "./rewrite.js";
export { rewriteXpakBuildId } from "./xpak-rewrite.js";
