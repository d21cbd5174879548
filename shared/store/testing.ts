/**
 * Test-only surface of shared/store/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { S3ArtifactStore } from "./s3-store.js";
export type { LogInfo, ObjectInfo, ObjectStat } from "./types.js";
export { type GcReport } from "./gc.js";
export { manifestPath } from "./layout.js";
export { backoffMs } from "./s3-retry.js";
