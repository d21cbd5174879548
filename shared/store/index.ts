/**
 * The artifact store: the port (./types.ts), its filesystem implementation, layout helpers
 * shared with other implementations, and garbage collection.
 */
export type {
  ArtifactStore,
  BlobInfo,
  ByteRange,
  HeldLock,
  LogInfo,
  Manifest,
  ManifestOutput,
  ObjectInfo,
  ObjectStat,
  PutOptions,
} from "./types.js";
export { FsArtifactStore } from "./fs-store.js";
export {
  collectGarbage,
  combineRoots,
  DEFAULT_BLOB_GRACE_MS,
  type GcOptions,
  type GcReport,
  type GcRoots,
  type GcRootSource,
} from "./gc.js";
export { assertLogPath, assertLogPrefix, blobPath, manifestPath, LOGS_PREFIX } from "./layout.js";
export { assertObjectPath, assertObjectPrefix, BINHOST_PREFIX } from "./object-paths.js";
export { checkManifest, parseManifest } from "./manifest-schema.js";
export { corruptBlobError, digestMismatchError, HashingTransform, VerifyingTransform } from "./hashing.js";
export type { S3ArtifactStore, S3StoreOptions } from "./s3-store.js";
export {
  isStoreOutageFailure,
  StoreOutage,
  type StoreOutageListener,
  type StoreOutageOptions,
} from "./store-outage.js";
export { outageTolerantStore } from "./outage-store.js";
// The S3 store loads the minio client (~1 s on these machines): only processes that use S3 pay for it.
export { openS3Store } from "./s3-open.js";
export { lockFile } from "./fs-lock.js";
