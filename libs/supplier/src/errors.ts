// The failures callers of the frame supplier act on: a bad request, a limit reached, a
// subscription that ended, a supplier that stopped.

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

/** Which configured limit a request would exceed. */
export type SupplierLimit = 'workers' | 'streams' | 'frameBytes';

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

/** Why a subscription's delivery ended. */
export type SubscriptionEndReason =
  /** The same worker id subscribed again; the newer subscription took over. */
  | 'replaced'
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
