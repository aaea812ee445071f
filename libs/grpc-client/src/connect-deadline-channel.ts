// A gRPC channel whose connection attempts have a deadline. grpc-js (1.14.7, the newest release)
// gives none: an attempt waits for the TCP handshake and then for the server's HTTP/2 SETTINGS
// with no timer (grpc/grpc-node#2785; gRPC's connection-backoff spec asks for a deadline, C-core
// and grpc-java have one). An attempt to an address that swallows packets then hangs for as long as
// the kernel retries its SYN (about 130 s on Linux), and the channel neither fails nor looks its
// name up again meanwhile. That is what a Swarm overlay network does to the address of a killed task:
// the clients of a replaced supplier found its new address only after 2 minutes.
//
// ConnectDeadlineChannel keeps one grpc-js channel and replaces it with a new one (same target,
// credentials and options) when it has wanted a connection for `connectTimeoutMs` without getting
// one: the new channel looks the name up at once and connects afresh. Calls still waiting on the
// old channel end UNAVAILABLE, as they would after a failed attempt, and the caller's retry goes to
// the new one. A channel that is idle (nothing asked for it) or ready is never replaced.
import * as grpc from '@grpc/grpc-js';

/** How long a channel may want a connection without one before it is replaced. gRPC's spec uses
 *  20 s (MIN_CONNECT_TIMEOUT) for the internet; framewire's services talk within a site, where a
 *  connection that is not up within 10 s, TLS included, will not come up. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

const { CONNECTING, TRANSIENT_FAILURE, SHUTDOWN } = grpc.connectivityState;

export class ConnectDeadlineChannel implements grpc.ChannelInterface {
  private current: grpc.ChannelInterface;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Channels replaced because their attempt passed the deadline. */
  replacements = 0;

  constructor(
    private readonly target: string,
    private readonly credentials: grpc.ChannelCredentials,
    private readonly options: grpc.ChannelOptions,
    private readonly connectTimeoutMs: number = DEFAULT_CONNECT_TIMEOUT_MS,
  ) {
    if (!(connectTimeoutMs > 0)) throw new RangeError(`ConnectDeadlineChannel: connectTimeoutMs must be > 0 (got ${connectTimeoutMs})`);
    this.current = this.open();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.current.close();
  }

  getTarget(): string {
    return this.current.getTarget();
  }

  getConnectivityState(tryToConnect: boolean): grpc.connectivityState {
    return this.current.getConnectivityState(tryToConnect);
  }

  /** Watches the current channel. When it is replaced, closing it wakes its watchers (grpc-js calls
   *  them on the change to SHUTDOWN), and grpc-js's waitForReady then reads the new channel's state. */
  watchConnectivityState(currentState: grpc.connectivityState, deadline: grpc.Deadline, callback: (error?: Error) => void): void {
    this.current.watchConnectivityState(currentState, deadline, callback);
  }

  getChannelzRef(): ReturnType<grpc.ChannelInterface['getChannelzRef']> {
    return this.current.getChannelzRef();
  }

  createCall(...args: Parameters<grpc.ChannelInterface['createCall']>): ReturnType<grpc.ChannelInterface['createCall']> {
    return this.current.createCall(...args);
  }

  private open(): grpc.ChannelInterface {
    const channel = new grpc.Channel(this.target, this.credentials, this.options);
    this.follow(channel, channel.getConnectivityState(false));
    return channel;
  }

  /** Runs the deadline while `channel` wants a connection (connecting, or failed and trying again). */
  private follow(channel: grpc.ChannelInterface, state: grpc.connectivityState): void {
    if (this.closed || state === SHUTDOWN) return;
    if (state === CONNECTING || state === TRANSIENT_FAILURE) {
      if (this.timer === undefined) {
        this.timer = setTimeout(() => this.replace(channel), this.connectTimeoutMs);
        this.timer.unref();
      }
    } else {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    channel.watchConnectivityState(state, Infinity, () => {
      if (channel === this.current) this.follow(channel, channel.getConnectivityState(false));
    });
  }

  private replace(stalled: grpc.ChannelInterface): void {
    this.timer = undefined;
    if (this.closed || stalled !== this.current) return;
    this.replacements++;
    this.current = this.open();
    // The new channel is asked to connect at once: whoever waited on the old one still wants it.
    this.current.getConnectivityState(true);
    // After `current` is the new channel: the old one's watchers, woken by this, look at the new one.
    stalled.close();
  }
}

/** grpc-js's `channelFactoryOverride` client option: every client built with it gets a
 *  ConnectDeadlineChannel. */
export function connectDeadlineChannelFactory(connectTimeoutMs: number = DEFAULT_CONNECT_TIMEOUT_MS) {
  return (target: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions): grpc.ChannelInterface =>
    new ConnectDeadlineChannel(target, credentials, options, connectTimeoutMs);
}
