/**
 * Scheduling: the order in which ready stages start (the farm's one policy) and the makespan
 * simulation built on it.
 */
export { readyOrder, type ReadyOrder } from "./ready-order.js";
export {
  simulateSchedule,
  uniformAgents,
  type SimAgent,
  type SimStage,
  type SimStart,
  type Simulation,
} from "./simulate.js";
