/**
 * The runners (agent side): one folder per runner kind, `common/` for what they all build on,
 * `binpkgs/` for PKGDIR collection and the binhost seam. What a runner kind is (its name,
 * version, `with` schema, limits) is in shared/runner-kinds.ts; the registry maps each kind to
 * its implementation here. This index exports what the rest of the agent uses.
 */
export {
  createRunnerRegistry,
  defaultRunners,
  type DefaultRunnerOptions,
  type RunnerRegistry,
} from "./registry.js";
export {
  BASE_PATH,
  checkScriptOutcome,
  clampMtimeFor,
  DEFAULT_SOURCE_DATE_EPOCH,
  scriptEnv,
  type LogSink,
  type Runner,
  type RunnerContext,
  type RunnerResult,
  type ScriptEnvOptions,
} from "./common/index.js";
export {
  collectBinpkgs,
  snapshotPkgdir,
  type BinhostClient,
  type BinhostPackage,
  type BinhostPublishContext,
} from "./binpkgs/index.js";
export { createCatalystRunner, type CatalystRunnerOptions } from "./catalyst/index.js";
export {
  createChrootRunner,
  runInChroot,
  type ChrootExecOptions,
  type ChrootRunnerOptions,
} from "./chroot/index.js";
export { createEmergeRunner, type EmergeRunnerOptions } from "./emerge/index.js";
export { createFetchRunner, type FetchRunnerOptions } from "./fetch/index.js";
export { createShellRunner, type ShellRunnerOptions } from "./shell/index.js";
