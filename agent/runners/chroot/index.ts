/** The chroot runner, and running a script in a root (also used by emerge in chroot mode). */
export { createChrootRunner, type ChrootRunnerOptions } from "./runner.js";
export { runInChroot, type ChrootExecOptions } from "./exec.js";
export { scrubRootfs } from "./scrub.js";
