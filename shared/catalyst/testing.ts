/** Test-only surface of shared/catalyst/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { GUARANTEED_DIGESTS, KERNEL_KEY_SUFFIXES } from "./upstream-4.1.1.js";
