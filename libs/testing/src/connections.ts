// Raw connections for tests of connection limits: a TCP or TLS connection that sends what it is told
// and then nothing, an HTTP/2 connection that makes no call, and a TCP proxy that can go silent like
// a dead network. Each reports whether the server closed it within a wait bound.
import { once } from 'node:events';
import { connect as connectHttp2 } from 'node:http2';
import { AddressInfo, connect as connectTcp, createServer, Server, Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

export type ConnectionFate = 'closed by the server' | 'still open';

/** Resolves to 'closed by the server' when `socket` closes within `waitMs`, else destroys it and
 *  resolves to 'still open'. */
function fateOf(socket: Socket, waitMs: number): Promise<ConnectionFate> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('still open');
    }, waitMs);
    socket.on('error', () => undefined);
    // What the server sends is read and dropped: unread data would hold back its close.
    socket.resume();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed by the server');
    });
  });
}

export interface SilentConnectionOptions {
  /** Bytes sent once connected (default nothing). */
  send?: Buffer | string;
  /** Complete a TLS handshake trusting this CA (and offering ALPN h2) before sending. */
  tlsCa?: Buffer;
  /** How long to wait for the server to close the connection. */
  waitMs: number;
}

/** Connects to 127.0.0.1:`port`, sends `options.send` if any, then stays silent: what happens to it? */
export async function silentConnection(port: number, options: SilentConnectionOptions): Promise<ConnectionFate> {
  const socket =
    options.tlsCa === undefined
      ? connectTcp(port, '127.0.0.1')
      : connectTls({ port, host: '127.0.0.1', ca: options.tlsCa, servername: 'localhost', ALPNProtocols: ['h2'] });
  const fate = fateOf(socket, options.waitMs);
  // An error before the connection opens is a close the fate reports.
  await Promise.race([once(socket, options.tlsCa === undefined ? 'connect' : 'secureConnect').catch(() => undefined), fate]);
  if (options.send !== undefined && !socket.destroyed) socket.write(options.send);
  return fate;
}

/** Opens an HTTP/2 connection (what a gRPC channel opens) to 127.0.0.1:`port` and makes no call. */
export async function idleHttp2Connection(port: number, options: { tlsCa?: Buffer; waitMs: number }): Promise<ConnectionFate> {
  const session =
    options.tlsCa === undefined
      ? connectHttp2(`http://127.0.0.1:${port}`)
      : connectHttp2(`https://localhost:${port}`, { ca: options.tlsCa, host: '127.0.0.1' });
  session.on('error', () => undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      session.destroy();
      resolve('still open');
    }, options.waitMs);
    session.once('close', () => {
      clearTimeout(timer);
      resolve('closed by the server');
    });
  });
}

export interface SilencingProxy {
  /** The port clients connect to instead of the target's. */
  port: number;
  /** From now on nothing passes either way, and nothing is closed: a dead network or host. */
  goSilent(): void;
  /** Resolves when the target has closed every connection made through the proxy. */
  targetClosedAll(): Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy to 127.0.0.1:`targetPort` that can go silent. */
export async function silencingProxy(targetPort: number): Promise<SilencingProxy> {
  const upstreams = new Set<Socket>();
  const downstreams = new Set<Socket>();
  let silent = false;
  const server: Server = createServer((client) => {
    const target = connectTcp(targetPort, '127.0.0.1');
    upstreams.add(target);
    downstreams.add(client);
    client.on('error', () => undefined);
    target.on('error', () => undefined);
    client.on('data', (chunk) => {
      if (!silent) target.write(chunk);
    });
    target.on('data', (chunk) => {
      if (!silent) client.write(chunk);
    });
    target.once('close', () => {
      upstreams.delete(target);
      if (!silent) client.destroy();
    });
    client.once('close', () => {
      downstreams.delete(client);
      if (!silent) target.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    goSilent: () => {
      silent = true;
    },
    targetClosedAll: async () => {
      await Promise.all([...upstreams].map((s) => once(s, 'close')));
    },
    close: async () => {
      for (const s of [...upstreams, ...downstreams]) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
