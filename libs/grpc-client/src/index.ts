// Public entry point of @framewire/grpc-client: what every framewire gRPC client shares — the one
// reconnect backoff, channel credentials and options from a service's security settings, waiting
// for a channel with a deadline, and a typed grpc.health.v1 client.
export { Backoff, BACKOFF_JITTER, DEFAULT_BACKOFF } from './backoff';
export type { BackoffOptions } from './backoff';
export {
  AUTHORIZATION_KEY,
  channelCredentials,
  channelOptions,
  LONG_LIVED_CALL_CHANNEL_OPTIONS,
  RECONNECT_CHANNEL_OPTIONS,
  tokenMetadata,
  waitForChannelReady,
} from './channel';
export type { ClientSecurity, RevealableSecret } from './channel';
export { ConnectDeadlineChannel, connectDeadlineChannelFactory, DEFAULT_CONNECT_TIMEOUT_MS } from './connect-deadline-channel';
export { checkHealth, DEFAULT_HEALTH_CHECK_DEADLINE_MS, HealthClient, WHOLE_SERVER } from './health-client';
export type { HealthCheckOptions, HealthClientOptions, HealthStatus, HealthWatchCall } from './health-client';
