/**
 * Releases on the coordinator: the use case behind PublishRelease and ReleaseLog
 * (./release-service.ts, over shared/release) and the read-only `/releases/` HTTP route (./http.ts).
 */
export { ReleaseService } from "./release-service.js";
export { RELEASES_ROUTE, serveReleases } from "./http.js";
export { releaseSources } from "./sources.js";
