/**
 * Downloads of stage outputs and blobs: the HTTP routes (./serve-download.ts), the gRPC stream
 * (./artifact-stream.ts), and the use case both adapt (./resolve-download.ts).
 */
export { artifactStream } from "./artifact-stream.js";
export { parseDownloadPath, targetOf, type DownloadTarget } from "./download-target.js";
export { type DownloadDeps, type ResolvedDownload } from "./resolve-download.js";
export { sendBlob, serveDownload } from "./serve-download.js";
