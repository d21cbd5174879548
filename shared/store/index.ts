/**
 * The artifact store: the port (./types.ts), its filesystem implementation, layout helpers
 * shared with other implementations, and garbage collection.
 */
export type { ArtifactStore, BlobInfo, HeldLock, Manifest, ManifestOutput, PutOptions } from "./types.js";
export { FsArtifactStore } from "./fs-store.js";
export { collectGarbage, combineRoots, type GcRootSource } from "./gc.js";
export { assertLogPath, blobPath } from "./layout.js";
export { isStoreOutageFailure, StoreOutage } from "./store-outage.js";
export { outageTolerantStore } from "./outage-store.js";
// The S3 store loads the minio client (~1 s on these machines): only processes that use S3 pay for it.
export { openS3Store } from "./s3-open.js";
export { lockFile } from "./fs-lock.js";
