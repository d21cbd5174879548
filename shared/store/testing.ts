/** Test-only surface of shared/store/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { S3ArtifactStore } from "./s3-store.js";
