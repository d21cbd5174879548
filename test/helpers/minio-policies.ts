/**
 * Where the shipped MinIO deployment files are (deploy/minio: policy-agent.json,
 * policy-coordinator.json, …), for tests that check the policies.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const MINIO_DEPLOY_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../../deploy/minio");
