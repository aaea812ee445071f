// Requests an HTTP port refuses before any route sees them: what Node's parser rejects (a malformed
// request line or header, a head over the size limit, a body cut short, a request that never
// arrives in full), an HTTP/1.1 request without Host, and a target that is not a URL. Each is
// answered, like every other refusal of our ports, with a 4xx status and a JSON body naming the
// problem, instead of Node's bare status line or the web framework's HTML page.
import { IncomingMessage, Server as HttpServer, ServerResponse, STATUS_CODES, maxHeaderSize as defaultMaxHeaderSize } from 'node:http';
import type { Duplex } from 'node:stream';

/** A refusal: the status and the JSON body `{ error, field? }` (field: the part of the request at fault). */
export interface HttpRefusal {
  status: number;
  body: { error: string; field?: string };
}

/** What Node's parser (llhttp) and its request timeout report. */
type ClientError = Error & { code?: string };

const PARSE_ERROR_PREFIX = /^Parse Error: /;

/** The refusal of a request that Node's HTTP server could not take; `maxHeaderBytes` is its head limit. */
export function refusalOfClientError(error: ClientError, maxHeaderBytes: number): HttpRefusal {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, body: { error: `the request line and headers exceed ${maxHeaderBytes} bytes`, field: 'headers' } };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, body: { error: 'the chunk extensions of the body are too large', field: 'body' } };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, body: { error: 'the request did not arrive in full within the time allowed', field: 'request' } };
    default:
      // llhttp's reasons name the part at fault ("Invalid header value char", "Invalid method encountered").
      return { status: 400, body: { error: `malformed HTTP request: ${error.message.replace(PARSE_ERROR_PREFIX, '')}`, field: 'request' } };
  }
}

/** The refusal of a request that parsed but cannot be routed (undefined when it can). */
export function refusalOfRequest(request: Pick<IncomingMessage, 'url' | 'headers' | 'httpVersionMajor' | 'httpVersionMinor'>): HttpRefusal | undefined {
  if (request.httpVersionMajor === 1 && request.httpVersionMinor === 1 && request.headers.host === undefined) {
    return { status: 400, body: { error: 'an HTTP/1.1 request needs a Host header', field: 'host' } };
  }
  if (!URL.canParse(request.url ?? '', 'http://host')) {
    return { status: 400, body: { error: `the request target is not a URL (got ${JSON.stringify((request.url ?? '').slice(0, 200))})`, field: 'url' } };
  }
  return undefined;
}

/** The whole response to `refusal` as the bytes to write on a raw socket (the connection closes after it). */
export function refusalResponse(refusal: HttpRefusal, headers: Readonly<Record<string, string>> = {}): string {
  const body = JSON.stringify(refusal.body);
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return (
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** What Node's default handler also looks at: a response already under way must not be corrupted. */
type ServerSocket = Duplex & { _httpMessage?: ServerResponse | null };

/**
 * Makes `server` answer every request it refuses before routing with a JSON body (and `headers`, e.g.
 * a service's security headers). Call it once the framework's 'request' listener is attached: that
 * listener then only sees requests it can route.
 */
export function answerMalformedRequestsWithJson(server: HttpServer, headers: Readonly<Record<string, string>> = {}): void {
  const maxHeaderBytes = (server as HttpServer & { maxHeaderSize?: number }).maxHeaderSize ?? defaultMaxHeaderSize;
  server.on('clientError', (error: ClientError, socket: ServerSocket) => {
    // As Node's default: answer only when nothing of a response was sent on this connection yet.
    if (error.code !== 'ECONNRESET' && socket.writable && !socket._httpMessage?.headersSent) {
      socket.end(refusalResponse(refusalOfClientError(error, maxHeaderBytes), headers), () => socket.destroy());
    } else {
      socket.destroy();
    }
  });
  // Answered below, as JSON, instead of by Node's bare 400.
  (server as HttpServer & { requireHostHeader: boolean }).requireHostHeader = false;
  const routes = server.listeners('request') as ((request: IncomingMessage, response: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const refusal = refusalOfRequest(request);
    if (refusal === undefined) {
      for (const route of routes) route.call(server, request, response);
      return;
    }
    response.shouldKeepAlive = false;
    response.writeHead(refusal.status, { ...headers, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(refusal.body));
  });
}
