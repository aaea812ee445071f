// The listening socket of a service's gRPC server. grpc-js closes connections with no call open,
// pings dead peers and caps streams per connection (grpcServerOptions), but it has no handshake
// timeout and no cap on connections: a client that opens TCP and sends nothing holds its socket
// forever (behind TLS, two minutes). This listener owns the TCP socket and the TLS, refuses
// connections beyond the cap, gives each connection one deadline to finish opening (the TLS
// handshake, then the HTTP/2 connection preface), and only then hands it to grpc-js
// (Server.createConnectionInjector).
import * as grpc from '@grpc/grpc-js';
import { LoggerService } from '@nestjs/common';
import { createServer as createTcpServer, Server as TcpServer, Socket } from 'node:net';
import { createServer as createTlsServer, TLSSocket } from 'node:tls';
import type { ConnectionLimits } from './connection-limits';
import type { ServerTls } from './security';

/** The first bytes of every HTTP/2 connection (RFC 9113 §3.4), so of every gRPC client. */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Refused and timed-out connections are logged at most this often, with their counts. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;
const CONTEXT = 'GrpcListener';

export interface GrpcListenerCounters {
  /** Connections refused at accept because maxConnections were open. */
  refusedOverCap: number;
  /** Connections closed because they had not finished opening within the handshake bound. */
  handshakeTimedOut: number;
  /** Connections closed because their first bytes were not HTTP/2's preface (or TLS failed). */
  notGrpc: number;
}

export class GrpcListener {
  readonly counters: GrpcListenerCounters = { refusedOverCap: 0, handshakeTimedOut: 0, notGrpc: 0 };
  private readonly server: TcpServer;
  private readonly injector: grpc.ConnectionInjector;
  /** Accepted connections not yet handed to grpc-js, with their handshake deadline. */
  private readonly opening = new Map<Socket, NodeJS.Timeout>();
  private lastLoggedAt = 0;
  private loggedCounters: GrpcListenerCounters = { refusedOverCap: 0, handshakeTimedOut: 0, notGrpc: 0 };

  constructor(
    grpcServer: grpc.Server,
    private readonly limits: ConnectionLimits,
    tls: ServerTls | undefined,
    private readonly logger: LoggerService,
  ) {
    // TLS is ended here, so grpc-js is given the decrypted connections.
    this.injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    if (tls === undefined) {
      this.server = createTcpServer({ noDelay: true }, (socket) => this.awaitPreface(socket, socket));
    } else {
      this.server = createTlsServer(
        // The deadline that counts is this listener's, from accept to the preface; Node's own (120 s
        // unless set) is only a backstop behind it.
        { cert: tls.certChain, key: tls.privateKey.reveal(), ALPNProtocols: ['h2'], handshakeTimeout: 2 * limits.handshakeTimeoutMs, noDelay: true },
        (secure: TLSSocket) => {
          const raw = this.openingSocketOf(secure);
          if (raw === undefined) secure.destroy();
          else this.awaitPreface(secure, raw);
        },
      );
      // A failed handshake, unless it failed because the deadline closed the connection.
      this.server.on('tlsClientError', (_err: Error, secure: TLSSocket) => {
        if (this.openingSocketOf(secure) !== undefined) this.count('notGrpc');
      });
    }
    this.server.maxConnections = limits.maxConnections;
    // Every accepted socket, before TLS: the deadline runs from here.
    this.server.prependListener('connection', (socket: Socket) => this.track(socket));
    this.server.on('drop', () => this.count('refusedOverCap'));
  }

  /** Listens on host:port; resolves to the port (the one chosen when `port` is 0). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`cannot listen for gRPC on ${host}:${port}: ${err.message}`));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /** Stops accepting and closes the connections still opening; grpc-js ends the established ones. */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
    for (const [socket, deadline] of this.opening) {
      clearTimeout(deadline);
      socket.destroy();
    }
    this.opening.clear();
  }

  /** The accepted socket a TLS socket wraps (same remote endpoint), while it is still opening. */
  private openingSocketOf(secure: TLSSocket): Socket | undefined {
    return [...this.opening.keys()].find((s) => s.remotePort === secure.remotePort && s.remoteAddress === secure.remoteAddress);
  }

  private track(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    const deadline = setTimeout(() => {
      if (this.opening.delete(socket)) {
        this.count('handshakeTimedOut');
        socket.destroy();
      }
    }, this.limits.handshakeTimeoutMs);
    this.opening.set(socket, deadline);
    socket.once('close', () => {
      clearTimeout(deadline);
      this.opening.delete(socket);
    });
  }

  /** Reads the first bytes of `stream` (the raw socket, or its TLS socket): HTTP/2's preface hands
   *  the connection to grpc-js with those bytes put back; anything else closes it. */
  private awaitPreface(stream: Socket, raw: Socket): void {
    let received: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const compared = Math.min(received.length, HTTP2_PREFACE.length);
      if (!received.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared))) {
        this.count('notGrpc');
        raw.destroy();
        return;
      }
      if (received.length < HTTP2_PREFACE.length) return;
      stream.off('data', onData);
      stream.pause();
      stream.unshift(received);
      clearTimeout(this.opening.get(raw));
      if (this.opening.delete(raw)) this.injector.injectConnection(stream);
    };
    stream.on('data', onData);
  }

  private count(counter: keyof GrpcListenerCounters): void {
    this.counters[counter]++;
    const now = Date.now();
    if (now - this.lastLoggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    const since = Object.fromEntries(Object.entries(this.counters).map(([k, v]) => [k, v - this.loggedCounters[k as keyof GrpcListenerCounters]]));
    this.logger.warn({ message: 'gRPC connections refused or closed before opening', sinceLastReport: since, limits: this.limits }, CONTEXT);
    this.lastLoggedAt = now;
    this.loggedCounters = { ...this.counters };
  }
}
