/**
 * Test-only surface of agent/: internals that tests reach. Only test/ and bench/ import this
 * file (docs/architecture.md, "Public surfaces").
 */
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
export { fetchToStore } from "./fetch-source.js";
export { runInProcessGroup, type ProcessOutcome } from "./process-group.js";
export { createFetchRunner } from "./runners/fetch.js";
export { createShellRunner } from "./runners/shell.js";
export { createChrootRunner } from "./runners/chroot.js";
export { runInChroot, type ChrootExecOptions } from "./runners/chroot-exec.js";
export { createEmergeRunner } from "./runners/emerge.js";
export { createCatalystRunner } from "./runners/catalyst.js";
export { scriptEnv } from "./runners/script-env.js";
export { checkScriptOutcome } from "./runners/script-outcome.js";
export type { RunnerContext } from "./runners/types.js";
export { checkPrerequisites, LABEL_TOOLS } from "./prerequisites.js";
