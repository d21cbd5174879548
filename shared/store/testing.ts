/** Test-only surface of shared/store/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { S3ArtifactStore } from "./s3-store.js";
export type { LogInfo, ObjectInfo, ObjectStat } from "./types.js";
export { type GcReport } from "./gc.js";
export { manifestPath } from "./layout.js";
