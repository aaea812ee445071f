// Public entry point of @framewire/supplier: the frame supplier's core (streams, inboxes, worker
// mailboxes, worker identity and slots, publish and fan-out, limits, statistics) and the delivery
// loop transports share.
export { InvalidRequestError, SubscriptionEndedError, SupplierLimitError, SupplierStoppedError, WorkerIdInUseError } from './errors';
export { PullCredits } from './pull-credits';
export { DEFAULT_MAX_WORKERS_PER_CALLER, FrameSupplier, Subscription, type FrameDelivery } from './frame-supplier';
export { deliverFrames } from './deliver-frames';
export { DEFAULT_HOLDER_SILENCE_MS, callerOf } from './worker-identity';
export { encodeDeliveryResponse, FrameSupplierDeliveryService } from './delivery-encoding';
