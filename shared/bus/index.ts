export {
  type MessageBus,
  type Subscription,
  type BusHandler,
  type BusResponder,
  subjectMatches,
} from "./types.js";
export { MemoryBus } from "./memory-bus.js";
export { NatsBus } from "./nats-bus.js";
