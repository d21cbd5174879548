/**
 * The role each RPC of StagefarmService needs: the one table the gRPC authorizer reads. It is
 * keyed by the service descriptor's method names (local names), and typed so that a new RPC does
 * not compile until it has a row; at run time an RPC without a row is refused, and the server
 * refuses to start with a service that has one (CallAuthorizer.checkCovers).
 */
import type { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import type { Role } from "./roles.js";

export type StagefarmRpc = keyof (typeof StagefarmService)["method"];

export const RPC_ROLES: Readonly<Record<StagefarmRpc, Role>> = {
  submitRun: "submitter",
  getRun: "viewer",
  listRuns: "viewer",
  watchRun: "viewer",
  tailLogs: "viewer",
  getLogTimes: "viewer",
  cancelRun: "submitter",
  retryStage: "submitter",
  listAgents: "viewer",
  drainAgent: "admin",
  listCache: "viewer",
  getCacheEntry: "viewer",
  collectCache: "admin",
  listBinhosts: "viewer",
  getBinhost: "viewer",
  removeBinpkgs: "admin",
  collectBinhost: "admin",
  configureBinhost: "admin",
  publishBinpkgs: "admin",
  getArtifact: "viewer",
  lookupCache: "viewer",
  removeCacheEntries: "admin",
  getStats: "viewer",
  publishRelease: "admin",
  releaseLog: "viewer",
  undrainAgent: "admin",
};
