import type { createStagefarmApi } from "./stagefarm-api.js";

/** Loads the gRPC API implementation (and the protobuf runtime) only in processes that serve it. */
export async function loadStagefarmApi(): Promise<typeof createStagefarmApi> {
  return (await import("./stagefarm-api.js")).createStagefarmApi;
}
