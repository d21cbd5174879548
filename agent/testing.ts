/**
 * Test-only surface of agent/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
export { findHierarchies, parseCgroupMounts, parseProcCgroup } from "./cgroup-hierarchy.js";
export { limitWrites, parseOomKills } from "./cgroup-limits.js";
export { CgroupManager } from "./cgroup.js";
export { listProcs, procInfo, readLedger, withProcessLedger } from "./process-ledger.js";
export { sweepStaleWork } from "./stale-work.js";
export { fetchToStore } from "./fetch-source.js";
export { runInProcessGroup, type ProcessOutcome } from "./process-group.js";
export { checkPrerequisites, LABEL_TOOLS } from "./prerequisites.js";
