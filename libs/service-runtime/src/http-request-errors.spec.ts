import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { rawHttpExchange } from '@framewire/testing';
import { limitHttpServer } from './connection-limits';
import { answerMalformedRequestsWithJson } from './http-request-errors';

const WAIT_MS = 5_000;
const HEADERS = { 'X-Content-Type-Options': 'nosniff' };

describe('answerMalformedRequestsWithJson', () => {
  let server: Server;
  let port: number;

  beforeEach(async () => {
    // Answers once it has read the whole request, as a web framework parsing a body does.
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    });
    limitHttpServer(server, { handshakeTimeoutMs: 300, idleTimeoutMs: 1_000, keepaliveMs: 1_000, maxConnections: 16 });
    answerMalformedRequestsWithJson(server, HEADERS);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const exchange = (request: Buffer | string, halfClose = false) => rawHttpExchange(port, request, { waitMs: WAIT_MS, halfClose, untilClosed: true });

  it.each([
    ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 400, 'request', /^malformed HTTP request: /],
    ['a header with a NUL byte', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n', 400, 'request', /^malformed HTTP request: Invalid header value char$/],
    ['a Transfer-Encoding it does not know', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: zip\r\n\r\n', 400, 'request', /^malformed HTTP request: /],
    ['a Content-Length that is not a number', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 400, 'request', /^malformed HTTP request: /],
    ['a head of 20,000 bytes', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers', /^the request line and headers exceed 16384 bytes$/],
    ['an HTTP/1.1 request without Host', 'GET / HTTP/1.1\r\n\r\n', 400, 'host', /^an HTTP\/1\.1 request needs a Host header$/],
    ['a target that is not a URL', 'GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'url', /^the request target is not a URL \(got "http:\/\/\[::1"\)$/],
  ])('answers %s with a JSON body naming the problem, its headers, and closes', async (_what, request, status, field, error) => {
    const answer = await exchange(request);
    expect({ status: answer.status, field: answer.body.field, closed: answer.closedByServer, nosniff: answer.headers['x-content-type-options'] }).toEqual({
      status,
      field,
      closed: true,
      nosniff: 'nosniff',
    });
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.body.error).toMatch(error);
  });

  it('answers a body cut short by the client with 400 JSON', async () => {
    const answer = await exchange('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a":', true);
    expect({ status: answer.status, field: answer.body.field }).toEqual({ status: 400, field: 'request' });
  });

  it('answers a head that never ends with 408 JSON once the handshake bound has passed', async () => {
    const answer = await exchange('GET / HTTP/1.1\r\nHost: x\r\n');
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 408, body: { error: 'the request did not arrive in full within the time allowed', field: 'request' } });
  });

  it('hands every request it can route to the server as before', async () => {
    const answer = await exchange('GET /anything?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { ok: true } });
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
  });
});
