/** Test-only surface of agent/runners/chroot/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { sweepStaleRunDirs } from "./run-dir.js";
