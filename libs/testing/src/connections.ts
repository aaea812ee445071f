// Raw connections for tests of connection limits and malformed requests: a TCP or TLS connection
// that sends what it is told and then nothing, an HTTP/2 connection that makes no call, a TCP proxy
// that can go silent like a dead network (each reports whether the server closed it within a wait
// bound), and an HTTP exchange of raw bytes.
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

export interface RawHttpAnswer {
  /** 0 when nothing that parses as an HTTP response came back. */
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** Parsed when the answer says it is JSON, else the text. */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Whether the server closed the connection (else the answer was complete, or the wait ran out). */
  closedByServer: boolean;
}

interface ParsedAnswer {
  status: number;
  headers: Record<string, string>;
  bodyText: string;
  /** The body is all there (by Content-Length, or the last chunk of a chunked body). */
  complete: boolean;
}

/** `text` read so far as an HTTP response. */
function parseAnswer(text: string): ParsedAnswer {
  const headEnd = text.indexOf('\r\n\r\n');
  const [statusLine, ...headerLines] = text.slice(0, headEnd < 0 ? text.length : headEnd).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  if (headEnd < 0) return { status, headers, bodyText: '', complete: false };
  // An interim or upgrade answer (101 Switching Protocols) has no body: what follows is another protocol.
  if (status >= 100 && status < 200) return { status, headers, bodyText: '', complete: true };
  const rest = text.slice(headEnd + 4);
  if (headers['transfer-encoding'] !== 'chunked') {
    const length = Number(headers['content-length'] ?? NaN);
    return { status, headers, bodyText: rest, complete: Buffer.byteLength(rest) >= length };
  }
  let bodyText = '';
  for (let chunks = rest; ; ) {
    const lineEnd = chunks.indexOf('\r\n');
    const size = parseInt(chunks.slice(0, lineEnd), 16);
    if (lineEnd < 0 || Number.isNaN(size)) return { status, headers, bodyText, complete: false };
    if (size === 0) return { status, headers, bodyText, complete: true };
    bodyText += chunks.slice(lineEnd + 2, lineEnd + 2 + size);
    chunks = chunks.slice(lineEnd + 2 + size + 2);
  }
}

/**
 * Sends `request` as raw bytes to 127.0.0.1:`port` (anything, well-formed HTTP or not; `halfClose`
 * ends the sending side after it) and reads the first response until it is complete (with
 * `untilClosed`: until the server closes the connection), or `waitMs` passes.
 */
export async function rawHttpExchange(
  port: number,
  request: Buffer | string,
  options: { waitMs: number; halfClose?: boolean; untilClosed?: boolean },
): Promise<RawHttpAnswer> {
  const socket = connectTcp(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  const read = () => Buffer.concat(chunks).toString('utf8');
  socket.on('error', () => undefined);
  const closedByServer = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), options.waitMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (!options.untilClosed && parseAnswer(read()).complete) {
        clearTimeout(timer);
        resolve(false);
      }
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.once('connect', () => {
      socket.write(request);
      if (options.halfClose) socket.end();
    });
  });
  socket.destroy();
  const { status, headers, bodyText } = parseAnswer(read());
  let body: unknown = bodyText;
  if (/json/.test(headers['content-type'] ?? '')) {
    try {
      body = JSON.parse(bodyText);
    } catch {
      // kept as text: a JSON content type with a body that is not JSON is for the test to see
    }
  }
  return { status, headers, body, closedByServer };
}
