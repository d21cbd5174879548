/**
 * Downloads of stage outputs and blobs: the HTTP routes (./serve-download.ts) and the use case
 * they adapt (./resolve-download.ts).
 */
export { parseDownloadPath, type DownloadTarget } from "./download-target.js";
export { resolveDownload, type DownloadDeps, type ResolvedDownload } from "./resolve-download.js";
export { serveDownload } from "./serve-download.js";
