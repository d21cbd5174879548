/** Test-only surface of agent/runners/catalyst/: internals that tests reach; nothing outside test/ and bench/ imports this file. */
export { placeSeed, placeSnapshot } from "./place.js";
