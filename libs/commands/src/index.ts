// Public entry point of @framewire/commands: the command catalog and its checks, the gateway's
// transport-free CommandRouter, and listenForCommands, a service's side of acknowledged commands.
// Types, payloads, statuses and policies: docs/commands.md.
export { CommandRouterBusyError, CommandSubscriptionError, CommandValidationError } from './errors';
export { COMMAND_CATALOG, DEFAULT_COMMAND_TIMEOUT_MS, MAX_COMMAND_TIMEOUT_MS, commandPayloadJsonSchema, parseCommandPayload, validateCommand, type CommandPayload } from './catalog';
export { CommandRouter, DEFAULT_MAX_PENDING_PER_TARGET, DEFAULT_MAX_POOL_MEMBERS, type CommandAnswer } from './router';
export { MAX_WAITING_COMMANDS, listenForCommands, type CommandHandler, type CommandListener } from './listener';
export { commandEnvironment, gatewayAddressFrom } from './environment';
export {
  acknowledgeCommandCall,
  CommandCallError,
  commandRouterGrpcService,
  MAX_COMMAND_BYTES_IN_FLIGHT_PER_STREAM,
  MAX_COMMANDS_IN_FLIGHT_PER_STREAM,
  MAX_QUEUED_COMMAND_BYTES_PER_SUBSCRIBER,
  MAX_QUEUED_COMMANDS_PER_SUBSCRIBER,
  sendCommandCall,
  serveCommandListener,
  serveCommandStream,
  serveCommandSubscription,
} from './grpc-calls';
export { openCommandStream, type CommandStream, type OpenCommandStreamOptions } from './command-stream';
