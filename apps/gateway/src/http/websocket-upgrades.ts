// The gateway's WebSocket endpoints share the HTTP server's one 'upgrade' event: this routes each
// upgrade request by path, refuses unknown paths with 404 JSON, and closes every endpoint at shutdown.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';

/** RFC 6455 "going away": the server is shutting down. */
export const WS_CLOSE_GOING_AWAY = 1001;
/** Bound on the closing handshake at shutdown before a socket is dropped. */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 1_000;

/** One WebSocket endpoint: refuses or accepts the upgrades of its path. */
export interface WebSocketEndpoint {
  readonly path: string;
  /** Settles once the upgrade is accepted or refused; never rejects. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void | Promise<void>;
  /** Stops accepting and closes every client with 1001. */
  close(): Promise<void>;
}

/** Answers an upgrade request with an HTTP error and a JSON body, as the REST API does. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, field?: string): void {
  const body = JSON.stringify(field === undefined ? { error: reason } : { error: reason, field });
  const statusText = { 400: 'Bad Request', 404: 'Not Found', 500: 'Internal Server Error', 503: 'Service Unavailable' }[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export class WebSocketUpgrades {
  private server: HttpServer | undefined;
  private readonly byPath: Map<string, WebSocketEndpoint>;
  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => this.route(request, socket, head);

  constructor(private readonly endpoints: readonly WebSocketEndpoint[]) {
    this.byPath = new Map(endpoints.map((e) => [e.path, e]));
  }

  get paths(): string[] {
    return [...this.byPath.keys()];
  }

  attach(server: HttpServer): void {
    this.server = server;
    server.on('upgrade', this.onUpgrade);
  }

  async close(): Promise<void> {
    this.server?.off('upgrade', this.onUpgrade);
    await Promise.all(this.endpoints.map((e) => e.close()));
  }

  private route(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node hands the socket over without an error listener; a client that resets it while its
    // upgrade is being checked must not take the process down.
    socket.on('error', () => socket.destroy());
    const url = new URL(request.url ?? '/', 'http://gateway');
    const endpoint = this.byPath.get(url.pathname);
    if (endpoint === undefined) return refuseUpgrade(socket, 404, `no WebSocket endpoint at ${url.pathname} (use ${this.paths.join(', ')})`);
    void (async () => endpoint.upgrade(request, socket, head, url))().catch(() => {
      if (socket.writable) refuseUpgrade(socket, 500, 'internal error');
    });
  }
}
