// The failures callers of the frame supplier act on: a bad request, a limit reached, a worker id
// held by another instance, a subscription that ended, a supplier that stopped.

/** A request field is missing or malformed; `field` is its proto path, e.g. "frame.stream_id". */
export class InvalidRequestError extends Error {
  readonly code = 'INVALID_REQUEST';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

/** Which configured limit a request would exceed: worker slots (all, or those open to workers
 *  that are not reserved), subscriptions of one caller, streams, frame size, rings of a stream or
 *  of the supplier, worker pools, members of one pool, streams of one pool. */
export type SupplierLimit =
  | 'workers'
  | 'workersPerCaller'
  | 'streams'
  | 'frameBytes'
  | 'ringsPerStream'
  | 'rings'
  | 'pools'
  | 'poolMembers'
  | 'poolStreams';

/** A request would exceed one of the supplier's limits; `value` is what was asked, `max` the limit. */
export class SupplierLimitError extends Error {
  readonly code = 'SUPPLIER_LIMIT';
  constructor(
    readonly limit: SupplierLimit,
    readonly value: number,
    readonly max: number,
    message: string,
  ) {
    super(message);
    this.name = 'SupplierLimitError';
  }
}

/** Another live instance holds the worker id a subscription asked for (see FrameSupplier.subscribe). */
export class WorkerIdInUseError extends Error {
  readonly code = 'WORKER_ID_IN_USE';
  constructor(
    readonly workerId: string,
    /** How long the holder must stay silent before another instance may take the id. */
    readonly silenceMs: number,
  ) {
    super(
      `worker_id "${workerId}" is held by another live instance (another instance_id); ` +
        `it can be taken once its holder has been silent for ${silenceMs} ms`,
    );
    this.name = 'WorkerIdInUseError';
  }
}

/** Why a subscription's delivery ended. */
export type SubscriptionEndReason =
  /** The same worker instance (same instance id) subscribed again; the newer subscription took over. */
  | 'replaced'
  /** Another instance took the worker id after this subscription had been silent too long. */
  | 'taken-over'
  /** The worker (or its transport) closed the subscription. */
  | 'unsubscribed'
  /** The supplier is shutting down. */
  | 'supplier-stopped';

/** A subscription ended; its delivery loop stops with this as the reason. */
export class SubscriptionEndedError extends Error {
  readonly code = 'SUBSCRIPTION_ENDED';
  constructor(
    readonly workerId: string,
    readonly reason: SubscriptionEndReason,
  ) {
    super(subscriptionEndMessage(workerId, reason));
    this.name = 'SubscriptionEndedError';
  }
}

function subscriptionEndMessage(workerId: string, reason: SubscriptionEndReason): string {
  switch (reason) {
    case 'replaced':
      return `worker "${workerId}" subscribed again; this subscription was replaced by the newer one`;
    case 'taken-over':
      return `worker "${workerId}" was taken over by another instance after this subscription stayed silent (no frame taken, no credit granted)`;
    case 'unsubscribed':
      return `worker "${workerId}" unsubscribed`;
    case 'supplier-stopped':
      return `the supplier is stopping; subscription of worker "${workerId}" ended`;
  }
}

/** The supplier was closed and accepts no more publishers or subscriptions. */
export class SupplierStoppedError extends Error {
  readonly code = 'SUPPLIER_STOPPED';
  constructor() {
    super('the frame supplier is stopping');
    this.name = 'SupplierStoppedError';
  }
}

/** Why a pool refused a member or a call: the member id is already in a pool, the pool runs in
 *  another mode than the one asked for, or no pool has a member of that id. */
export type PoolMembershipProblem = 'member-exists' | 'mode-conflict' | 'unknown-member';

/** A join, grant or leave that the pools' current membership does not allow; `field` is the proto
 *  field to blame. */
export class PoolMembershipError extends Error {
  readonly code = 'POOL_MEMBERSHIP';
  constructor(
    readonly problem: PoolMembershipProblem,
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'PoolMembershipError';
  }
}

/** A PoolScheduler method was called from inside its own deliver callback (the batch it passes is
 *  reused, so the callback must return before the scheduler is driven again). */
export class PoolSchedulerReenteredError extends Error {
  readonly code = 'POOL_SCHEDULER_REENTERED';
  constructor(method: string) {
    super(`PoolScheduler.${method} was called from inside the deliver callback; call it after the callback returns`);
    this.name = 'PoolSchedulerReenteredError';
  }
}
