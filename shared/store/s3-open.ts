import type { S3Config } from "../config/s3-url.js";
import type { S3ArtifactStore, S3StoreOptions } from "./s3-store.js";

/** Opens the S3 artifact store, loading the minio client on first use. */
export async function openS3Store(cfg: S3Config, opts: S3StoreOptions = {}): Promise<S3ArtifactStore> {
  const { S3ArtifactStore: Store } = await import("./s3-store.js");
  return Store.open(cfg, opts);
}
