// Public entry point of @framewire/supplier: the frame supplier's core (streams, inboxes, worker
// mailboxes, worker identity and slots, publish and fan-out, limits, statistics) and the delivery
// loop transports share.
export { InvalidRequestError, PoolMembershipError, SubscriptionEndedError, SupplierLimitError, SupplierStoppedError, WorkerIdInUseError } from './errors';
export { PULL_CREDIT_CAP, PullCredits } from './pull-credits';
export { DEFAULT_MAX_POOLS, DEFAULT_MAX_WORKERS_PER_CALLER, FrameSupplier, Publisher, Subscription, type FrameDelivery, type PoolMembership, type SubscribeOptions } from './frame-supplier';
export { RING_REOPEN_INTERVAL_MS } from './shared-memory';
export { deliverFrames } from './deliver-frames';
export { DEFAULT_HOLDER_SILENCE_MS, callerOf } from './worker-identity';
export { encodeDeliveryResponse, FrameSupplierDeliveryService } from './delivery-encoding';
export { DEFAULT_MAX_POOL_CREDITS, PoolScheduler } from './pool-scheduler';
export type { DeliverPoolFrames, PoolJoin, PoolMemberStats, PoolSchedulerOptions, PoolStats, PoolStreamStats } from './pool-scheduler';
export type { PoolDelivery, PoolMode } from './pool-state';
export type { OwnershipChange } from './sticky-ownership';
export { DEFAULT_AGE_WINDOW_SAMPLES } from './age-window';
