export { type MessageBus, type Subscription } from "./types.js";
export { MemoryBus } from "./memory-bus.js";
export { NatsBus } from "./nats-bus.js";
