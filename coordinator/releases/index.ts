/**
 * Releases on the coordinator: the use case behind PublishRelease and ReleaseLog
 * (./release-service.ts, over shared/release) and the read-only `/releases/` HTTP route (./http.ts).
 */
export { ReleaseService, type ReleaseRequest, type ReleaseServiceDeps } from "./release-service.js";
export { parseReleaseUrlPath, RELEASES_ROUTE, serveReleases } from "./http.js";
export { parsePick, releaseSources } from "./sources.js";
