// The errors of the commands library: a command or payload that cannot be accepted, naming the
// field ("request_id", "payload.fps") so gateways can answer INVALID_ARGUMENT / HTTP 400 with it,
// a router too busy to take one more command (RESOURCE_EXHAUSTED / HTTP 503), and a command
// subscription the router cannot take (FAILED_PRECONDITION / RESOURCE_EXHAUSTED).

/** INVALID_COMMAND: a field is malformed. UNKNOWN_TYPE: the type is well formed but not in the catalog. */
export type CommandValidationCode = 'INVALID_COMMAND' | 'UNKNOWN_TYPE';

export class CommandValidationError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly code: CommandValidationCode = 'INVALID_COMMAND',
  ) {
    super(message);
    this.name = 'CommandValidationError';
  }
}

/** Too many commands wait for acknowledgements (for the target, or in total, by count or bytes): the
 *  command was not delivered; the caller may retry later. The message names the bound. */
export class CommandRouterBusyError extends Error {
  readonly code = 'COMMANDS_BUSY';
  constructor(
    /** The command's target. */
    readonly target: string,
    message: string,
  ) {
    super(message);
    this.name = 'CommandRouterBusyError';
  }
}

/** TARGET_CONFLICT: the subscription would make one id name both a service and a pool. POOL_FULL:
 *  the pool has as many members as the router takes. */
export type CommandSubscriptionCode = 'TARGET_CONFLICT' | 'POOL_FULL';

/** A command subscription refused by the router; `field` is "service_id" or "pool_id". */
export class CommandSubscriptionError extends Error {
  constructor(
    readonly field: 'service_id' | 'pool_id',
    readonly code: CommandSubscriptionCode,
    message: string,
  ) {
    super(message);
    this.name = 'CommandSubscriptionError';
  }
}
