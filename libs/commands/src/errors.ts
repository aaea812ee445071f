// The one error of the commands library: a command or payload that cannot be accepted, naming the
// field ("request_id", "payload.fps") so gateways can answer INVALID_ARGUMENT / HTTP 400 with it.

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
