// The channel of a framewire client: credentials, TLS name override and bearer token from the
// service's security settings, the options of a channel that carries one long-lived call, and
// waiting for the channel to be ready within a deadline.
import * as grpc from '@grpc/grpc-js';
import { connectDeadlineChannelFactory } from './connect-deadline-channel';

/** Metadata key that carries the bearer token, as `Bearer <token>`. */
export const AUTHORIZATION_KEY = 'authorization';

/** A secret value that prints as a description of itself (service-runtime's Secret is one). */
export interface RevealableSecret {
  reveal(): string;
}

/** The client side of a service's security settings (service-runtime's SecurityConfig fits). */
export interface ClientSecurity {
  /** Sent as `authorization: Bearer <token>` with the calls that need it. */
  token?: RevealableSecret;
  /** TLS to the servers, trusting these CAs (absent: plaintext). */
  clientTls?: { rootCerts: Buffer; serverName?: string };
}

/** For every channel a framewire service opens to another: reconnection at the client's pace
 *  (DEFAULT_BACKOFF: 100 ms doubling to 5 s) rather than grpc-js's 1 s growing to 120 s; the
 *  server's name resolved again at most 1 s apart rather than 30 s; and a connection attempt that
 *  gets no answer given up after DEFAULT_CONNECT_TIMEOUT_MS (ConnectDeadlineChannel; grpc-js has no
 *  deadline). An orchestrator that replaces a server gives its name a new address (Swarm's dnsrr, a
 *  headless Service, compose after a recreate), and the old one may swallow packets: with grpc-js's
 *  defaults a client found the new one 30 s to over 2 min later. The name is resolved again only
 *  while the channel cannot connect (grpc-js never polls), so this costs one DNS lookup a second
 *  during an outage and nothing otherwise. `channelFactoryOverride` is a client option: pass these
 *  to a client's constructor, not to `new grpc.Channel`. */
export const RECONNECT_CHANNEL_OPTIONS: Readonly<grpc.ChannelOptions> = Object.freeze({
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 5_000,
  'grpc.dns_min_time_between_resolutions_ms': 1_000,
  channelFactoryOverride: connectDeadlineChannelFactory(),
});

/** For a channel that carries one long-lived call (publishing frames or results, receiving frames or
 *  commands): RECONNECT_CHANNEL_OPTIONS, and keepalive pings that find a dead server within 15 s. */
export const LONG_LIVED_CALL_CHANNEL_OPTIONS: Readonly<grpc.ChannelOptions> = Object.freeze({
  ...RECONNECT_CHANNEL_OPTIONS,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
});

/** Credentials for a service's outbound gRPC channels: TLS when a CA is configured, else plaintext. */
export function channelCredentials(security: ClientSecurity): grpc.ChannelCredentials {
  const tls = security.clientTls;
  return tls === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(tls.rootCerts);
}

/** Channel options that go with channelCredentials: RECONNECT_CHANNEL_OPTIONS and the TLS
 *  server-name override. */
export function channelOptions(security: ClientSecurity): grpc.ChannelOptions {
  const name = security.clientTls?.serverName;
  return { ...RECONNECT_CHANNEL_OPTIONS, ...(name === undefined ? {} : { 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name }) };
}

/** Metadata carrying the token for a service's calls (empty when no token is configured). */
export function tokenMetadata(token: RevealableSecret | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set(AUTHORIZATION_KEY, `Bearer ${token.reveal()}`);
  return metadata;
}

/**
 * Waits until `client`'s channel is ready (connecting if it is idle), for at most `timeoutMs`.
 * Resolves undefined when ready, else the error of the failed wait; an abort of `signal` resolves
 * at once with the signal's reason. Never rejects: the caller backs off and tries again.
 */
export function waitForChannelReady(client: grpc.Client, timeoutMs: number, signal?: AbortSignal): Promise<Error | undefined> {
  if (signal?.aborted) return Promise.resolve(abortReason(signal));
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(abortReason(signal as AbortSignal));
    signal?.addEventListener('abort', onAbort, { once: true });
    client.waitForReady(Date.now() + timeoutMs, (err) => {
      signal?.removeEventListener('abort', onAbort);
      resolve(err ?? undefined);
    });
  });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}
