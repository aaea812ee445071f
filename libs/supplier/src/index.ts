// Public entry point of @framewire/supplier: the frame supplier's core (streams, inboxes, worker
// mailboxes, worker identity and slots, publish and fan-out, limits, statistics) and the delivery
// loop transports share.
export * from './errors';
export * from './validation';
export * from './publish-rate';
export * from './pull-credits';
export * from './frame-supplier';
export * from './shared-memory';
export * from './deliver-frames';
export * from './test-frames';
export * from './worker-identity';
export * from './refusals';
export * from './ring-names';
export { encodeDeliveryResponse, FrameSupplierDeliveryService } from './delivery-encoding';
export { DEFAULT_MAX_POOL_CREDITS, PoolScheduler } from './pool-scheduler';
export type { DeliverPoolFrames, PoolJoin, PoolMemberStats, PoolSchedulerOptions, PoolStats, PoolStreamStats } from './pool-scheduler';
export type { PoolDelivery, PoolMode } from './pool-state';
export type { OwnershipChange } from './sticky-ownership';
export { DEFAULT_AGE_WINDOW_SAMPLES } from './age-window';
