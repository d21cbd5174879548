/** Test-only surface of agent/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { findHierarchies, parseCgroupMounts, parseProcCgroup } from "./cgroup-hierarchy.js";
export { limitWrites, parseOomKills } from "./cgroup-limits.js";
export { CgroupManager } from "./cgroup.js";
export { listProcs, procInfo, readLedger, withProcessLedger } from "./process-ledger.js";
export { type BinhostPackage } from "./runners/binhost-seam.js";
export { cpvFromPath, isBinpkgFile, parsePackagesIndex } from "./runners/binpkgs.js";
export { placeSeed, placeSnapshot } from "./runners/catalyst-place.js";
export { sweepStaleRunDirs } from "./runners/chroot-run-dir.js";
export { emergeJobDefaults, type EmergePlanOptions, planEmerge } from "./runners/emerge-plan.js";
export { commandLine, invocationScript, shQuote, writesScript } from "./runners/emerge-script.js";
export { sweepStaleWork } from "./stale-work.js";
