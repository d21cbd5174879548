/** The pools an agent serves (one per subset of its labels): defined with the protocol. */
export { poolsFor } from "../../shared/protocol/pools.js";
