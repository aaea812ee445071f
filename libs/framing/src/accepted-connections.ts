// The server-side bookkeeping both socket and WebSocket servers share: accepted connections wait
// in a bounded queue until taken, and every live connection is closed with the server.
import { InboundQueue } from './inbound-queue';
import { FrameConnection } from './types';
import { ioError } from './waiting';

/** Accepted connections nobody has taken yet, beyond which new ones are refused (destroyed). */
export const MAX_PENDING_CONNECTIONS = 128;

export class AcceptedConnections<C extends FrameConnection> {
  private readonly pending = new InboundQueue<C>({ highWaterMark: MAX_PENDING_CONNECTIONS });
  private readonly live = new Set<C>();
  private closing = false;

  /** Number of connections open now (accepted or still pending). */
  get size(): number {
    return this.live.size;
  }

  /** Registers a new connection; refuses it when the server is closing or the queue is full. */
  admit(connection: C): void {
    if (this.closing || this.pending.size >= MAX_PENDING_CONNECTIONS) {
      connection.destroy();
      return;
    }
    this.live.add(connection);
    void connection.closed.finally(() => this.live.delete(connection));
    this.pending.push(connection);
  }

  async accept(signal?: AbortSignal): Promise<C> {
    const connection = await this.pending.take(signal);
    if (connection === undefined) throw ioError('ERR_SERVER_NOT_RUNNING', 'the frame server is closed');
    return connection;
  }

  async *iterate(): AsyncGenerator<C, void, undefined> {
    for (;;) {
      const connection = await this.pending.take();
      if (connection === undefined) return;
      yield connection;
    }
  }

  /** Refuses new connections and closes every live one (gracefully, each bounded by its timeout). */
  async closeAll(): Promise<void> {
    this.closing = true;
    this.pending.discard();
    await Promise.all(
      [...this.live].map((connection) => connection.close().catch(() => connection.destroy())),
    );
  }
}
