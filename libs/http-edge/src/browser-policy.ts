// The gateway's rules for browsers (docs/security.md): which pages may use it (those of its own
// origin, and those FW_HTTP_ALLOWED_ORIGINS names), the security headers of every HTTP answer, and
// how a browser's WebSocket carries the bearer token: in a subprotocol, since a browser cannot set
// an Authorization header on a WebSocket and a token in the URL would end up in logs and history.
import type { IncomingHttpHeaders } from 'node:http';
import { AUTHORIZATION_KEY } from '@framewire/grpc-client';

/** The viewer page's policy, sent with every answer: its own script and styles only (nothing
 *  inline), sockets and requests to its own origin, the `data:` favicon, no frames, no plugins. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers of every HTTP answer of the gateway (REST, page, metrics, refused upgrades). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
});

/** What an allowed cross-origin page may send (CORS preflight answer). */
export const CORS_ALLOWED_METHODS = 'GET, POST';
export const CORS_ALLOWED_HEADERS = `${AUTHORIZATION_KEY}, content-type`;
/** How long a browser may reuse a preflight answer. */
export const CORS_MAX_AGE_S = 600;

/** The subprotocol the gateway answers with; a client that offers the bearer subprotocol offers
 *  this one too, since a server may echo only what was offered and never echoes the token. */
export const WS_PROTOCOL = 'framewire.v1';
/** `framewire.bearer.<the token in base64url, unpadded>`: the token of a WebSocket upgrade. */
export const WS_BEARER_PROTOCOL_PREFIX = 'framewire.bearer.';
/** Origins longer than this are cut in error messages (they come from the client). */
const MAX_ORIGIN_ECHO = 200;

const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' };

/** Thrown for an FW_HTTP_ALLOWED_ORIGINS entry that is not an origin; names the entry. */
export class AllowedOriginError extends Error {
  readonly code = 'ALLOWED_ORIGIN_INVALID';
}

/**
 * FW_HTTP_ALLOWED_ORIGINS: comma-separated origins (`https://ops.example.com`, `http://10.0.0.5:3000`)
 * as browsers send them: scheme http or https, host, optional port, nothing else. Returns them
 * serialized as browsers do (lower case, default port left out).
 */
export function parseAllowedOrigins(value: string): string[] {
  const origins: string[] = [];
  for (const entry of value.split(',').map((e) => e.trim()).filter((e) => e !== '')) {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new AllowedOriginError(`${JSON.stringify(entry)} is not an origin (scheme://host[:port])`);
    }
    const bare = url.pathname === '/' && !entry.endsWith('/') && url.search === '' && url.hash === '' && url.username === '' && url.password === '';
    if (!(url.protocol in DEFAULT_PORTS) || !bare) {
      throw new AllowedOriginError(`${JSON.stringify(entry)} is not an origin: write it as browsers send it, http:// or https://, a host and an optional port, no path or trailing slash`);
    }
    origins.push(url.origin);
  }
  return origins;
}

/** `origin` as browsers serialize it, or undefined when it is not an http(s) origin ("null", junk). */
function serializedOrigin(origin: string): URL | undefined {
  try {
    const url = new URL(origin);
    return url.protocol in DEFAULT_PORTS ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a page of `origin` is served by the server the browser reached as `host` (the Host
 *  header): the same host name and port. (URL leaves a scheme's default port out of `host`, so
 *  `example.com` and `example.com:80` are one for http.) */
export function isSameOrigin(origin: URL, host: string): boolean {
  let reached: URL;
  try {
    reached = new URL(`${origin.protocol}//${host}`);
  } catch {
    return false;
  }
  const onlyHost = reached.username === '' && reached.password === '' && reached.pathname === '/' && reached.search === '' && reached.hash === '';
  return onlyHost && reached.host === origin.host;
}

/** How the gateway treats a request's Origin: no Origin (not a browser), same origin, allowed by
 *  FW_HTTP_ALLOWED_ORIGINS (cross-origin: CORS headers go with the answer), or refused. */
export type OriginVerdict = { allowed: true; crossOrigin: string | undefined } | { allowed: false; problem: string };

export function judgeOrigin(headers: IncomingHttpHeaders, allowedOrigins: ReadonlySet<string>): OriginVerdict {
  const origin = headers.origin;
  // Browsers send Origin on every WebSocket upgrade and every cross-origin request; a request
  // without one comes from a program (curl, a worker, a test), which the token guards instead.
  if (origin === undefined) return { allowed: true, crossOrigin: undefined };
  const url = serializedOrigin(origin);
  if (url !== undefined && headers.host !== undefined && isSameOrigin(url, headers.host)) return { allowed: true, crossOrigin: undefined };
  if (url !== undefined && allowedOrigins.has(url.origin)) return { allowed: true, crossOrigin: url.origin };
  const shown = JSON.stringify(origin.length > MAX_ORIGIN_ECHO ? `${origin.slice(0, MAX_ORIGIN_ECHO)}…` : origin);
  return { allowed: false, problem: `pages of origin ${shown} may not use this gateway: only its own origin and those of FW_HTTP_ALLOWED_ORIGINS` };
}

/**
 * The token a WebSocket upgrade carries, as an `authorization` value: the Authorization header
 * (programs), else a `framewire.bearer.<base64url>` subprotocol (browsers). `protocols` is the
 * Sec-WebSocket-Protocol value without the bearer entry, to hand on to the endpoint (undefined when
 * nothing is left), so that the token is never echoed back.
 */
export function upgradeCredentials(headers: IncomingHttpHeaders): { authorization: string | undefined; protocols: string | undefined } {
  const offered = (headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const bearer = offered.find((p) => p.startsWith(WS_BEARER_PROTOCOL_PREFIX));
  const rest = offered.filter((p) => !p.startsWith(WS_BEARER_PROTOCOL_PREFIX));
  const fromProtocol = bearer === undefined ? undefined : `Bearer ${Buffer.from(bearer.slice(WS_BEARER_PROTOCOL_PREFIX.length), 'base64url').toString('utf8')}`;
  return { authorization: headers.authorization ?? fromProtocol, protocols: rest.length > 0 ? rest.join(', ') : undefined };
}
