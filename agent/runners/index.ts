/**
 * The runners (agent side): one folder per runner kind, `common/` for what they all build on,
 * `binpkgs/` for PKGDIR collection and the binhost seam. What a runner kind is (its name,
 * version, `with` schema, limits) is in shared/runner-kinds.ts; the registry maps each kind to
 * its implementation here.
 */
export {
  createRunnerRegistry,
  defaultRunners,
  type DefaultRunnerOptions,
  type RunnerRegistry,
} from "./registry.js";
export * from "./common/index.js";
export * from "./binpkgs/index.js";
export * from "./catalyst/index.js";
export * from "./chroot/index.js";
export * from "./emerge/index.js";
export * from "./fetch/index.js";
export * from "./shell/index.js";
