// Public entry point of @framewire/commands: the command catalog and its checks, the gateway's
// transport-free CommandRouter, and listenForCommands, a service's side of acknowledged commands.
// Types, payloads, statuses and policies: docs/commands.md.
export * from './errors';
export * from './catalog';
export * from './router';
export * from './listener';
export * from './environment';
export {
  acknowledgeCommandCall,
  CommandCallError,
  commandRouterGrpcService,
  MAX_QUEUED_COMMAND_BYTES_PER_SUBSCRIBER,
  MAX_QUEUED_COMMANDS_PER_SUBSCRIBER,
  sendCommandCall,
  serveCommandSubscription,
} from './grpc-calls';
