// The gateway's WebSocket endpoints share the HTTP server's one 'upgrade' event: this routes each
// upgrade request by path (404 JSON for an unknown one), refuses malformed handshakes (400, 405),
// pages of foreign origins (403) and, with FW_AUTH_TOKEN, upgrades without the token (401) before
// any endpoint sees them, and closes every endpoint at shutdown.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { bearerTokenProblem, HttpRefusal, refusalOfRequest, refusalResponse, Secret } from '@framewire/service-runtime';
import { judgeOrigin, SECURITY_HEADERS, upgradeCredentials } from './browser-policy';

/** RFC 6455 "going away": the server is shutting down. */
export const WS_CLOSE_GOING_AWAY = 1001;
/** RFC 6455 "policy violation": a client that sends, or one that reads nothing (stalled). */
export const WS_CLOSE_POLICY_VIOLATION = 1008;
/** Bound on the closing handshake (at shutdown, or of a stalled client) before a socket is dropped. */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 1_000;
/** A close reason is at most 123 bytes (RFC 6455 §5.5). */
const MAX_CLOSE_REASON_BYTES = 123;

/** `reason` cut to what a close frame carries (at a character boundary). */
export function truncateReason(reason: string): string {
  let cut = reason;
  while (Buffer.byteLength(cut) > MAX_CLOSE_REASON_BYTES) cut = cut.slice(0, -1);
  return cut;
}

/** Closes a client that reads nothing with 1008 and `reason` (which waits behind what its socket
 *  holds: a client that reads again within CLOSE_HANDSHAKE_TIMEOUT_MS learns it), then drops the
 *  socket, which frees what it holds. */
export function closeStalledSocket(ws: { close(code: number, reason: string): void; terminate(): void; once(event: 'close', listener: () => void): unknown }, reason: string): void {
  ws.close(WS_CLOSE_POLICY_VIOLATION, truncateReason(reason));
  const timer = setTimeout(() => ws.terminate(), CLOSE_HANDSHAKE_TIMEOUT_MS);
  ws.once('close', () => clearTimeout(timer));
}

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
  socket.end(refusalResponse({ status, body: field === undefined ? { error: reason } : { error: reason, field } }, SECURITY_HEADERS));
}

/** A Sec-WebSocket-Key: 16 bytes in base64 (RFC 6455 §4.2.1). */
const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;
/** The protocol versions the ws library speaks. */
const WEBSOCKET_VERSIONS = ['13', '8'];
/** A subprotocol is an HTTP token (RFC 7230 §3.2.6). */
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * What is wrong with an upgrade's handshake (RFC 6455 §4.2.1), checked here so that the answer is
 * JSON with the security headers like every other refusal (ws would answer with a plain-text page).
 * `protocols` is the Sec-WebSocket-Protocol value without the bearer entry.
 */
export function handshakeProblem(request: IncomingMessage, protocols: string | undefined): HttpRefusal | undefined {
  const refuse = (status: number, error: string, field: string): HttpRefusal => ({ status, body: { error, field } });
  if (request.method !== 'GET') return refuse(405, `a WebSocket upgrade is a GET request (got ${request.method})`, 'method');
  if (request.headers.upgrade?.toLowerCase() !== 'websocket') return refuse(400, 'the Upgrade header must be "websocket"', 'upgrade');
  if (!WEBSOCKET_KEY.test(request.headers['sec-websocket-key'] ?? '')) return refuse(400, 'Sec-WebSocket-Key must be 16 bytes in base64', 'sec-websocket-key');
  if (!WEBSOCKET_VERSIONS.includes(request.headers['sec-websocket-version'] ?? '')) {
    return refuse(400, `Sec-WebSocket-Version must be ${WEBSOCKET_VERSIONS.join(' or ')}`, 'sec-websocket-version');
  }
  if (protocols !== undefined && !protocols.split(',').every((p) => HTTP_TOKEN.test(p.trim()))) {
    return refuse(400, 'Sec-WebSocket-Protocol must be a comma-separated list of tokens', 'sec-websocket-protocol');
  }
  return undefined;
}

/** Who may upgrade: pages of the gateway's own origin and of `allowedOrigins` (programs send no
 *  Origin), and with `token` only requests that carry it. */
export interface UpgradePolicy {
  allowedOrigins: readonly string[];
  token?: Secret<string>;
  logger?: { error(message: unknown, stack?: string, context?: string): void; debug?(message: unknown, context?: string): void };
}

export interface WebSocketUpgradeStats {
  /** Upgrades refused because a page of a foreign origin asked. */
  refusedOrigin: number;
  /** Upgrades refused for a missing, malformed or wrong token. */
  refusedToken: number;
}

export class WebSocketUpgrades {
  private server: HttpServer | undefined;
  private readonly byPath: Map<string, WebSocketEndpoint>;
  private readonly allowedOrigins: ReadonlySet<string>;
  private readonly counters: WebSocketUpgradeStats = { refusedOrigin: 0, refusedToken: 0 };
  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => this.route(request, socket, head);

  constructor(
    private readonly endpoints: readonly WebSocketEndpoint[],
    private readonly policy: UpgradePolicy = { allowedOrigins: [] },
  ) {
    this.byPath = new Map(endpoints.map((e) => [e.path, e]));
    this.allowedOrigins = new Set(policy.allowedOrigins);
  }

  stats(): WebSocketUpgradeStats {
    return { ...this.counters };
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
    // A target that is not a URL would make `new URL` throw in this event listener, which ends the process.
    const unroutable = refusalOfRequest(request);
    if (unroutable !== undefined) return refuseUpgrade(socket, unroutable.status, unroutable.body.error, unroutable.body.field);
    const url = new URL(request.url ?? '/', 'http://gateway');
    const endpoint = this.byPath.get(url.pathname);
    if (endpoint === undefined) return refuseUpgrade(socket, 404, `no WebSocket endpoint at ${url.pathname} (use ${this.paths.join(', ')})`);
    // Origin first: a page of a foreign origin learns nothing, not even whether its token is right.
    const origin = judgeOrigin(request.headers, this.allowedOrigins);
    if (!origin.allowed) {
      this.counters.refusedOrigin++;
      return this.refuse(request, socket, url, 403, origin.problem, 'origin');
    }
    const { authorization, protocols } = upgradeCredentials(request.headers);
    const malformed = handshakeProblem(request, protocols);
    if (malformed !== undefined) return refuseUpgrade(socket, malformed.status, malformed.body.error, malformed.body.field);
    const problem = bearerTokenProblem(authorization, this.policy.token);
    if (problem !== undefined) {
      this.counters.refusedToken++;
      return this.refuse(request, socket, url, 401, problem, 'authorization');
    }
    // The endpoint chooses among the other subprotocols: the token is never echoed.
    if (protocols === undefined) delete request.headers['sec-websocket-protocol'];
    else request.headers['sec-websocket-protocol'] = protocols;
    void (async () => endpoint.upgrade(request, socket, head, url))().catch((error: unknown) => {
      this.policy.logger?.error({ message: 'WebSocket upgrade failed', path: url.pathname, error: String(error) }, (error as Error).stack, 'WebSocketUpgrades');
      if (socket.writable) refuseUpgrade(socket, 500, 'internal error');
    });
  }

  /** Refuses an upgrade the policy does not let through, logged at debug level (never with what the
   *  client sent as a token: `reason` only says what was wrong). */
  private refuse(request: IncomingMessage, socket: Duplex, url: URL, status: number, reason: string, field: string): void {
    this.policy.logger?.debug?.({ message: 'WebSocket upgrade refused', path: url.pathname, status, reason, peer: request.socket.remoteAddress }, 'WebSocketUpgrades');
    refuseUpgrade(socket, status, reason, field);
  }
}
