/** Test-only surface of agent/runners/binpkgs/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { cpvFromPath, isBinpkgFile, parsePackagesIndex } from "./collect.js";
