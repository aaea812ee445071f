// Live results over WebSocket at /ws on the gateway's HTTP server: one binary message per result,
// the protobuf encoding of framewire.v1.Result (formats.md §1), filtered by the query
// `?stream=&worker=&kind=keypoints,tracks`.
//
// Slow clients: each client has a hub subscription (a bounded queue that drops its oldest result
// when full, counted) and the gateway sends only while what the socket holds unsent stays below
// maxBufferedBytes (or it holds nothing); what it holds counts in the hub's budget. A client whose
// socket takes nothing is closed by the hub's stall rule (1008 with the reason), one that answers
// no ping by the keepalive.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { CLOSE_HANDSHAKE_TIMEOUT_MS, closeStalledSocket, parseResultFilterQuery, refuseUpgrade, RequestProblem, WebSocketEndpoint, WebSocketKeepalive, WS_CLOSE_GOING_AWAY } from '@framewire/http-edge';
import { ResultHub, ResultSubscription, SubscriberStalledError } from './hub';

export const WS_PATH = '/ws';
/** Bytes a client's socket may hold unsent before the gateway stops sending to it. */
export const DEFAULT_WS_MAX_BUFFERED_BYTES = 1024 * 1024;
/** Clients beyond this are refused with 503 (each costs a subscription queue). */
export const DEFAULT_WS_MAX_CLIENTS = 256;
/** Clients send nothing; anything larger than this closes them. */
const WS_MAX_INBOUND_PAYLOAD_BYTES = 1024;

export interface ResultsWebSocketOptions {
  maxBufferedBytes?: number;
  maxClients?: number;
  /** Pings the accepted sockets and terminates those that stop answering. */
  keepalive?: WebSocketKeepalive;
  logger?: { warn(message: unknown, context?: string): void };
}

export interface WebSocketClientStats {
  peer: string;
  sent: number;
  /** Results dropped from this client's queue because it did not keep up. */
  dropped: number;
  bufferedAmount: number;
  /** The largest bufferedAmount seen just before a send. */
  maxBufferedBeforeSend: number;
}

export interface ResultsWebSocketStats {
  clients: number;
  connectionsTotal: number;
  rejectedTotal: number;
  sentTotal: number;
  /** Results dropped for slow clients, over every client ever. */
  droppedTotal: number;
  /** Clients closed because their socket took nothing (the hub's stall rule). */
  stalledTotal: number;
}

interface Client {
  ws: WebSocket;
  peer: string;
  subscription: ResultSubscription;
  abort: AbortController;
  sent: number;
  maxBufferedBeforeSend: number;
}

/** Owns the /ws endpoint (routed to by WebSocketUpgrades); close() at shutdown. */
export class ResultsWebSocket implements WebSocketEndpoint {
  readonly path = WS_PATH;
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private readonly maxBufferedBytes: number;
  private readonly maxClients: number;
  private closing: Promise<void> | undefined;
  private counters = { connectionsTotal: 0, rejectedTotal: 0, sentTotal: 0, droppedOfClosed: 0, stalledTotal: 0 };

  constructor(
    private readonly hub: ResultHub,
    private readonly options: ResultsWebSocketOptions = {},
  ) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_WS_MAX_BUFFERED_BYTES;
    this.maxClients = options.maxClients ?? DEFAULT_WS_MAX_CLIENTS;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_INBOUND_PAYLOAD_BYTES, perMessageDeflate: false });
  }

  stats(): ResultsWebSocketStats {
    let dropped = this.counters.droppedOfClosed;
    for (const c of this.clients) dropped += c.subscription.dropped;
    return {
      clients: this.clients.size,
      connectionsTotal: this.counters.connectionsTotal,
      rejectedTotal: this.counters.rejectedTotal,
      sentTotal: this.counters.sentTotal,
      droppedTotal: dropped,
      stalledTotal: this.counters.stalledTotal,
    };
  }

  clientStats(): WebSocketClientStats[] {
    return [...this.clients].map((c) => ({
      peer: c.peer,
      sent: c.sent,
      dropped: c.subscription.dropped,
      bufferedAmount: c.ws.bufferedAmount,
      maxBufferedBeforeSend: c.maxBufferedBeforeSend,
    }));
  }

  /** Stops accepting, closes every client with 1001 (dropping those that do not answer in time). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(
        [...this.clients].map(async (c) => {
          c.abort.abort();
          c.subscription.close();
          if (c.ws.readyState === WebSocket.CLOSED) return;
          const closed = new Promise<void>((resolve) => c.ws.once('close', () => resolve()));
          c.ws.close(WS_CLOSE_GOING_AWAY, 'gateway shutting down');
          const timer = setTimeout(() => c.ws.terminate(), CLOSE_HANDSHAKE_TIMEOUT_MS);
          await closed;
          clearTimeout(timer);
        }),
      );
      await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    })();
    return this.closing;
  }

  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    if (this.closing !== undefined) return this.refuse(socket, 503, 'the gateway is shutting down');
    if (this.clients.size >= this.maxClients) return this.refuse(socket, 503, `too many WebSocket clients (limit ${this.maxClients})`);
    let filter;
    try {
      filter = parseResultFilterQuery(url.searchParams);
    } catch (error) {
      if (error instanceof RequestProblem) return this.refuse(socket, 400, error.message, error.field);
      throw error;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      const peer = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
      if (this.closing !== undefined) {
        ws.close(WS_CLOSE_GOING_AWAY, 'gateway shutting down');
        return;
      }
      this.counters.connectionsTotal++;
      const subscription = this.hub.subscribe(filter, `/ws client ${peer}`);
      const client: Client = { ws, peer, subscription, abort: new AbortController(), sent: 0, maxBufferedBeforeSend: 0 };
      this.clients.add(client);
      ws.on('error', () => undefined); // 'close' follows; nothing to add.
      ws.on('message', () => ws.close(1008, 'clients do not send messages on /ws'));
      ws.once('close', () => this.forget(client));
      this.options.keepalive?.watch(ws);
      // The hub disconnected it for stalling: what its socket holds counts until the socket is gone.
      subscription.signal.addEventListener(
        'abort',
        () => {
          const reason: unknown = subscription.signal.reason;
          if (!(reason instanceof SubscriberStalledError) || ws.readyState !== WebSocket.OPEN) return;
          this.counters.stalledTotal++;
          closeStalledSocket(ws, reason.message);
        },
        { once: true },
      );
      void this.pump(client).catch((error: unknown) => {
        this.options.logger?.warn({ message: 'WebSocket client failed', peer, error: String(error) }, 'ResultsWebSocket');
        ws.terminate();
      });
    });
  }

  private refuse(socket: Duplex, status: number, reason: string, field?: string): void {
    this.counters.rejectedTotal++;
    refuseUpgrade(socket, status, reason, field);
  }

  private forget(client: Client): void {
    if (!this.clients.delete(client)) return;
    client.abort.abort();
    this.counters.droppedOfClosed += client.subscription.dropped;
    client.subscription.close();
  }

  /** Sends queued results while the socket keeps up; otherwise results wait (and drop) in the queue. */
  private async pump(client: Client): Promise<void> {
    const { ws, subscription, abort } = client;
    const keepalive = this.options.keepalive;
    while (!abort.signal.aborted && ws.readyState === WebSocket.OPEN && !subscription.closed) {
      const next = subscription.peek();
      if (next === undefined) {
        await subscription.waitForResult(abort.signal).catch(() => undefined);
        continue;
      }
      const held = subscription.transportBytes;
      const p = held === 0 || held + next.retainedBytes <= this.maxBufferedBytes ? subscription.takeForTransport() : undefined;
      if (p === undefined) {
        await subscription.waitForRoom(abort.signal).catch(() => undefined);
        continue;
      }
      client.maxBufferedBeforeSend = Math.max(client.maxBufferedBeforeSend, ws.bufferedAmount);
      ws.send(p.encoded(), { binary: true }, (error) => {
        subscription.transported(p);
        if (!error) keepalive?.alive(ws);
      });
      client.sent++;
      this.counters.sentTotal++;
    }
  }
}
