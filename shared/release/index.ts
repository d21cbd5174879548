/**
 * Releases in Gentoo's mirror layout (`releases/<arch>/autobuilds/…`, ./layout.ts): publishing a
 * run's outputs with DIGESTS, CONTENTS.gz, signatures and `latest-<name>.txt` (./publish.ts), the
 * pointers that move by compare-and-set and keep the promotion log (./pointer.ts), the seed
 * lineage of `release:` pipeline inputs (./seeds.ts), and the digests they keep from garbage
 * collection (./roots.ts).
 */
export {
  extensionOf,
  parseServedPath,
  releaseName,
  type ServedRelease,
  filePath,
  latestPath,
} from "./layout.js";
export { readFileRecord } from "./file-record.js";
export { readPointer, releaseSeedSchema, type Pointer, type Promotion } from "./pointer.js";
export { PointerLocks } from "./pointer-lock.js";
export {
  publishRelease,
  type PublishRequest,
  type ReleaseExpectation,
  type ReleaseSource,
} from "./publish.js";
export { type SigningKey } from "./sign.js";
export { bindReleaseInputs, resolveReleaseInputs } from "./seeds.js";
export { releaseRootDigests } from "./roots.js";
