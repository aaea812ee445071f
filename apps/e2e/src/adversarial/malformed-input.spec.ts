// Hostile bytes on every port of every service, against real processes on loopback: every gRPC
// method (enumerated from the generated service definitions and the standard health and reflection
// services, so a new method is covered without editing this file) called with bytes that are not
// its request, with the largest message the port accepts and one byte more, and (client streams)
// with a valid message then garbage and with thousands of tiny messages; then the gateway's HTTP
// routes and WebSocket paths (enumerated from its OpenAPI document) and the supplier's /metrics
// with malformed queries, methods, bodies and headers. Every answer must be a typed status or a
// 4xx JSON body naming the problem; afterwards each service still serves, with bounded memory.
// Bounded: about 250 MiB of gRPC traffic in all, a few hundred calls, loopback only.
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { AckStatus, ListenCommandsRequest, PixelFormat, PublishRequest, PublishResultsRequest, PullRequest, StreamCommandsRequest, SubscribeRequest } from '@framewire/proto';
import {
  callWithRawRequests,
  checkHealth,
  KnownMethod,
  knownMethods,
  listReflectedServices,
  RawCallOutcome,
  RawHttpAnswer,
  rawHttpExchange,
  residentMiB,
  ServiceProcess,
  startServiceProcess,
  stopServiceProcess,
} from '@framewire/testing';
import { tokenMetadata } from '@framewire/grpc-client';
import { secretText } from '@framewire/service-runtime';

const APPS = ['capture', 'supplier', 'worker', 'gateway'] as const;
type App = (typeof APPS)[number];
const TOKEN = 'malformed-input-token-0123456789';
/** Nothing to reach: each service's clients retry in the background while its ports serve. */
const ALONE_ENV = { FW_ARCHIVE: 'off', FW_GATEWAY_ADDRESS: '', FW_SUPPLIER_ADDRESS: '127.0.0.1:1', FW_CAPTURE_ADDRESSES: '127.0.0.1:1' };
/** The supplier's frame limit in this suite (default 32 MiB): small, so its largest message is cheap to send. */
const SUPPLIER_MAX_FRAME_BYTES = 1024 * 1024;
/** The largest gRPC message each port accepts (docs/reliability.md): grpc-js's 4 MiB, and the
 *  supplier's frame limit plus 64 KiB for the rest of a message. */
const MAX_MESSAGE_BYTES: Record<App, number> = {
  capture: 4 * 1024 * 1024,
  worker: 4 * 1024 * 1024,
  gateway: 4 * 1024 * 1024,
  supplier: SUPPLIER_MAX_FRAME_BYTES + 64 * 1024,
};
/** A call with a response stream still open after this is taken as waiting (a stream with nothing
 *  to send yet): a malformed request is refused at once, long before it. */
const STREAM_WAIT_MS = 3_000;
/** A call with one response that has none after this hangs: a failure, however loaded the machine. */
const ANSWER_BOUND_MS = 15_000;
/** Calls in flight at once on one service: small ones, and those of the largest messages. */
const PROBE_CONCURRENCY = 64;
const LARGE_CONCURRENCY = 2;
/** "Thousands of tiny messages" on one client stream. */
const TINY_MESSAGES = 3_000;
/** Fixed seed: the random byte strings are the same on every run. */
const RANDOM_SEED = 14;
const RANDOM_CASES = 6;
/** Methods open without the token (docs/security.md: counters, health, reflection). */
const OPEN_METHODS = new Set([
  '/framewire.v1.FrameSupplier/GetStats',
  '/grpc.health.v1.Health/Check',
  '/grpc.health.v1.Health/List',
  '/grpc.health.v1.Health/Watch',
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
]);
/** A service above this after the barrage holds on to what it was sent (idle, each is 100-125 MiB;
 *  after it, 120-180 MiB). */
const RSS_BOUND_MIB = 400;

/** Bytes that are not protobuf of any message type, whatever its fields. */
const MALFORMED: Readonly<Record<string, Buffer>> = {
  'a truncated varint': Buffer.from([0x08, 0xff, 0xff]),
  'a truncated tag': Buffer.from([0x80]),
  'wire type 7, which does not exist': Buffer.from([0x0f, 0x00]),
  'a length past the end': Buffer.from([0x0a, 0x10, 0x41, 0x42]),
  'a length of 2 GiB': Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x08, 0x00]),
  'a nested message with a truncated varint': Buffer.from([0x0a, 0x02, 0x08, 0x80]),
};
/** Bytes that may or may not be a message of the method's type: a field of an unexpected wire type
 *  (skipped as unknown by protobuf decoders), and random bytes. */
const DOUBTFUL: Readonly<Record<string, Buffer>> = {
  'field 1 as a fixed32': Buffer.from([0x0d, 0x01, 0x02, 0x03, 0x04]),
  'field 2 as a fixed64': Buffer.from([0x11, 1, 2, 3, 4, 5, 6, 7, 8]),
  ...Object.fromEntries(
    fc.sample(fc.uint8Array({ minLength: 1, maxLength: 96 }), { seed: RANDOM_SEED, numRuns: RANDOM_CASES }).map((bytes, i) => [`random bytes #${i}`, Buffer.from(bytes)]),
  ),
};

const PAD_FIELD_TAG = (1000 << 3) | 2;

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** `message` followed by an unknown length-delimited field (number 1000) so that the whole is
 *  exactly `total` bytes: still a well-formed message of the same type. */
function padTo(message: Buffer, total: number): Buffer {
  const tag = varint(PAD_FIELD_TAG);
  for (let fill = total - message.length - tag.length - 1; fill >= 0; fill--) {
    const head = [...tag, ...varint(fill)];
    if (message.length + head.length + fill === total) return Buffer.concat([message, Buffer.from(head), Buffer.alloc(fill, 0x61)]);
  }
  throw new Error(`cannot pad ${message.length} bytes to ${total}`);
}

/**
 * The n-th valid request of a client-streaming method's call number `call` (a call subscribes with
 * its own worker id, so calls never collide). Every client-streaming method must have one: a new
 * method fails the suite until it is given its valid message here.
 */
const VALID_STREAM_REQUEST: Readonly<Record<string, (n: number, call: number) => unknown>> = {
  '/framewire.v1.FrameSupplier/Publish': (n): PublishRequest => ({
    frame: {
      streamId: 'adv-malformed',
      sequence: n + 1,
      captureTimeUs: Date.now() * 1000,
      width: 8,
      height: 8,
      pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8,
      sizeBytes: 64,
      data: Buffer.alloc(64, n % 256),
    },
  }),
  '/framewire.v1.FrameSupplier/Pull': (n, call): PullRequest =>
    n === 0
      ? { subscribe: SubscribeRequest.fromPartial({ workerId: `adv-malformed-${call}`, streamId: 'adv-malformed' }) }
      : { credits: 1 },
  '/framewire.v1.ResultHub/PublishResults': (n): PublishResultsRequest => ({
    result: {
      streamId: 'adv-malformed',
      frameSequence: n + 1,
      captureTimeUs: Date.now() * 1000,
      workerId: 'adv-malformed',
      processingUs: 1,
      publishedTimeUs: Date.now() * 1000,
      detections: { detections: [] },
    },
  }),
  // A subscription, then acks of commands nobody sent (counted late, harmless).
  '/framewire.v1.CommandRouter/ListenCommands': (n, call): ListenCommandsRequest =>
    n === 0
      ? { subscribe: { serviceId: `adv-malformed-${call}`, poolId: '' } }
      : { ack: { requestId: `adv-ack-${n}`, status: AckStatus.ACK_STATUS_SUCCESS, message: '', responder: '', latencyUs: 0 } },
  // Commands to a target nobody is: each answered UNKNOWN_TARGET at once.
  '/framewire.v1.CommandRouter/StreamCommands': (n, call): StreamCommandsRequest => ({
    command: { requestId: `adv-${call}-${n}`, target: 'adv-nobody', type: 'worker.set_fps', payloadJson: '{"fps":1}', timeoutMs: 0 },
  }),
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo': () => ({ listServices: '' }),
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo': () => ({ listServices: '' }),
};

let callCounter = 0;

function validRequest(method: KnownMethod, n: number, call: number): Buffer {
  const make = VALID_STREAM_REQUEST[method.path];
  // A unary or server-streaming request of no fields is a valid message of any type.
  return make === undefined ? Buffer.alloc(0) : method.encodeRequest(make(n, call));
}

function decodes(method: KnownMethod, bytes: Buffer): boolean {
  try {
    method.decodeRequest(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A status that tells the client nothing about its request: the server failed. */
const UNTYPED = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN]);
const statusName = (code: grpc.status): string => grpc.status[code];

interface Probe {
  method: string;
  input: string;
  status: string;
  details: string;
}


/** Bound on one HTTP exchange: a refusal comes at once. */
const HTTP_WAIT_MS = 10_000;
/** HTTP exchanges in flight at once. */
const HTTP_CONCURRENCY = 16;
const OTHER_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const HOSTILE_AUTHORIZATIONS = ['', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer not-the-token-0123456789abcdef', `Bearer ${'t'.repeat(8_000)}`, 'Bearer \u00e9\u00e9\u00e9', `Bearer ${TOKEN} extra`];
const UPGRADE_HEADERS: Readonly<Record<string, string>> = {
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-version': '13',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
};
/** Ways to spoil a WebSocket handshake: headers set over UPGRADE_HEADERS, headers dropped, another method. */
const HOSTILE_HANDSHAKES: Readonly<Record<string, { set?: Record<string, string>; drop?: string[]; method?: string }>> = {
  'no key': { drop: ['sec-websocket-key'] },
  'a key of 3 bytes': { set: { 'sec-websocket-key': 'YWJj' } },
  'version 99': { set: { 'sec-websocket-version': '99' } },
  'no version': { drop: ['sec-websocket-version'] },
  'Upgrade: h2c': { set: { upgrade: 'h2c' } },
  'by POST': { method: 'POST' },
  'by DELETE': { method: 'DELETE' },
  'subprotocols that are not tokens': { set: { 'sec-websocket-protocol': 'a b, {c}' } },
  'a bearer subprotocol that is not base64url': { set: { 'sec-websocket-protocol': 'framewire.v1, framewire.bearer.!!!' }, drop: ['authorization'] },
  'an Origin of another site': { set: { origin: 'http://evil.example' } },
  'Origin: null': { set: { origin: 'null' } },
};
/** Bodies that are not a JSON object, or not readable at all. */
const HOSTILE_BODIES: Readonly<Record<string, { type?: string; body: Buffer | string; encoding?: string }>> = {
  'no content type': { body: '{"requestId":"a"}' },
  'text/plain': { type: 'text/plain', body: '{"requestId":"a"}' },
  'a form': { type: 'application/x-www-form-urlencoded', body: 'requestId=a&target=b' },
  multipart: { type: 'multipart/form-data; boundary=x', body: '--x\r\n\r\n--x--' },
  'truncated JSON': { type: 'application/json', body: '{"requestId": "a", "tar' },
  'empty JSON body': { type: 'application/json', body: '' },
  'JSON null': { type: 'application/json', body: 'null' },
  'a JSON array': { type: 'application/json', body: '[1,2,3]' },
  'a JSON string': { type: 'application/json', body: '"command"' },
  'invalid UTF-8': { type: 'application/json', body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) },
  'UTF-16 declared': { type: 'application/json; charset=utf-16', body: '{}' },
  'an unknown charset': { type: 'application/json; charset=klingon', body: '{}' },
  'gzip that is not gzip': { type: 'application/json', body: '{}', encoding: 'gzip' },
  'an unknown encoding': { type: 'application/json', body: '{}', encoding: 'snappy' },
  'a body over the limit (1 MiB)': { type: 'application/json', body: `{"requestId":"${'x'.repeat(1024 * 1024)}"}` },
  'nested 10,000 deep': { type: 'application/json', body: `{"payload":${'['.repeat(10_000)}${']'.repeat(10_000)}}` },
  'wrong field types': { type: 'application/json', body: '{"requestId":1,"target":[],"type":{},"timeoutMs":"soon"}' },
  '__proto__ as a field': { type: 'application/json', body: '{"__proto__":{"polluted":true},"requestId":"a","target":"b","type":"c"}' },
};
/** Requests no HTTP server should take; each must still get a JSON answer. */
const MALFORMED_HTTP: Readonly<Record<string, Buffer>> = Object.fromEntries(
  Object.entries({
    'a request line that is not HTTP': 'GARBAGE\r\n\r\n',
    'a NUL byte in a header': 'GET /api/stats HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n',
    'a head of 20,000 bytes': `GET /api/stats HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    'a target of 20,000 bytes': `GET /api/stats?${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    'a target that is not a URL': 'GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n',
    'an upgrade whose target is not a URL': `GET http://[::1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    'no Host': 'GET /api/stats HTTP/1.1\r\n\r\n',
    'an unknown Transfer-Encoding': 'POST /api/commands HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: zip\r\n\r\n',
    'Content-Length and Transfer-Encoding': 'POST /api/commands HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'a chunk size that is not hex': 'POST /api/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n',
    'a Content-Length that is not a number': 'POST /api/commands HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
    'a body cut short': 'POST /api/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"requestId":',
    'HTTP/2 preface on the HTTP/1 port': 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  }).map(([what, text]) => [what, Buffer.from(text, 'latin1')]),
);

interface Route {
  path: string;
  method: string;
  parameters: string[];
  guarded: boolean;
  websocket: boolean;
  takesBody: boolean;
  /** The statuses its document lists: a 5xx is acceptable only there (503 from /api/health while nothing flows). */
  documented: number[];
}

interface OpenApiOperation {
  parameters?: { name: string; in: string }[];
  security?: unknown[];
  requestBody?: unknown;
  responses?: Record<string, unknown>;
}

/** Every operation of an OpenAPI document (WebSocket paths are those that answer 101). */
function routesOf(document: { paths: Record<string, Record<string, OpenApiOperation>> }): Route[] {
  return Object.entries(document.paths)
    .flatMap(([path, operations]) =>
      Object.entries(operations).map(([method, op]) => ({
        path,
        method: method.toUpperCase(),
        parameters: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
        guarded: (op.security ?? []).length > 0,
        websocket: op.responses?.['101'] !== undefined,
        takesBody: op.requestBody !== undefined,
        documented: Object.keys(op.responses ?? {}).map(Number),
      })),
    )
    .sort((a, b) => a.path.localeCompare(b.path));
}

/** Query strings a parser could choke on, over the route's own parameters (or "stream"). */
function hostileQueries(route: Route): string[] {
  const names = route.parameters.length > 0 ? route.parameters : ['stream'];
  const perName = names.flatMap((n) => [
    `?${n}=`,
    `?${n}=%ZZ`,
    `?${n}=%00%01%02`,
    `?${n}=${'x'.repeat(5_000)}`,
    `?${n}=a&${n}=b`,
    `?${n}[x]=1`,
    `?${n}[]=1&${n}[]=2`,
    `?${n}=%F0%9F%92%A9%ED%A0%80`,
    `?${n}=../../etc/passwd`,
    `?${n}=-1`,
    `?${n}=99999999999999999999999`,
  ]);
  return [...perName, '?%', '?&&&=&=', '?__proto__[polluted]=1', '?constructor[prototype][polluted]=1', `?unknown=1`, `?${'a[b]'.repeat(50)}=1`];
}

/** One HTTP/1.1 request as bytes; `drop` removes headers (names in lower case). */
function request(method: string, target: string, headers: Readonly<Record<string, string>>, body: Buffer | string = '', drop: readonly string[] = []): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const lines = Object.entries({ host: '127.0.0.1', ...headers, ...(bytes.length > 0 || method === 'POST' ? { 'content-length': String(bytes.length) } : {}) })
    .filter(([name]) => !drop.includes(name))
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const close = headers.connection === undefined ? 'connection: close\r\n' : '';
  return Buffer.concat([Buffer.from(`${method} ${target} HTTP/1.1\r\n${lines}${close}\r\n`, 'utf8'), bytes]);
}

async function exchangeAll(port: number, requests: readonly Buffer[], options: { halfClose?: boolean } = {}): Promise<RawHttpAnswer[]> {
  const answers: RawHttpAnswer[] = new Array(requests.length);
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < requests.length) {
      const i = next++;
      answers[i] = await rawHttpExchange(port, requests[i], { waitMs: HTTP_WAIT_MS, halfClose: options.halfClose });
    }
  };
  await Promise.all(Array.from({ length: HTTP_CONCURRENCY }, run));
  return answers;
}

/** A stack frame ("    at fn (file:line:col)") in an answer. */
const STACK_FRAME = /\n\s+at \S.*:\d+:\d+/;

/**
 * An answer a client can act on: below 400, or a 4xx whose body is JSON with an `error` string (and,
 * from the gateway, its security headers); a 5xx only where the route documents it, with a JSON
 * body; never a stack trace.
 */
function isTypedHttpAnswer(answer: RawHttpAnswer, route: Pick<Route, 'documented'> | undefined, securityHeaders = true): boolean {
  if (answer.status === 0 || STACK_FRAME.test(JSON.stringify(answer.body))) return false;
  if (securityHeaders && answer.headers['x-content-type-options'] !== 'nosniff') return false;
  if (answer.status < 400) return true;
  if (answer.status >= 500) return route?.documented.includes(answer.status) === true && typeof answer.body === 'object' && answer.body !== null;
  return typeof answer.body?.error === 'string';
}

const summary = (answer: RawHttpAnswer) => ({ status: answer.status, type: answer.headers['content-type'], body: JSON.stringify(answer.body).slice(0, 160) });

describe('adversarial: malformed input on every port (real processes)', () => {
  jest.setTimeout(60_000);
  const services = new Map<App, ServiceProcess>();
  const served = new Map<App, string[]>();
  const methods = knownMethods();
  const metadata = tokenMetadata(secretText(TOKEN));

  beforeAll(async () => {
    await Promise.all(
      APPS.map(async (app) => {
        const env = { ...ALONE_ENV, FW_AUTH_TOKEN: TOKEN, FW_SUPPLIER_MAX_FRAME_BYTES: String(SUPPLIER_MAX_FRAME_BYTES) };
        const service = await startServiceProcess(app, env, app === 'gateway' ? { listeners: ['gRPC', 'HTTP'] } : app === 'supplier' ? { listeners: ['gRPC', 'metrics'] } : {});
        services.set(app, service);
        served.set(app, await listReflectedServices(service.port));
      }),
    );
  });

  afterAll(async () => {
    await Promise.all([...services.values()].map((s) => stopServiceProcess(s)));
  });

  /** Calls every method of `app` with each of its inputs, `concurrency` calls at a time; resolves
   *  with what each call came to. */
  async function probe(
    app: App,
    inputs: (method: KnownMethod) => Record<string, Buffer[]>,
    options: { metadata?: grpc.Metadata; concurrency?: number; deadlineMs?: number } = {},
  ): Promise<(Probe & { outcome: RawCallOutcome; known: KnownMethod })[]> {
    const client = new grpc.Client(`127.0.0.1:${services.get(app)!.port}`, grpc.credentials.createInsecure());
    const calls = methods.flatMap((known) => Object.entries(inputs(known)).map(([input, requests]) => ({ known, input, requests })));
    const probes: (Probe & { outcome: RawCallOutcome; known: KnownMethod })[] = [];
    let next = 0;
    const runCalls = async (): Promise<void> => {
      while (next < calls.length) {
        const { known, input, requests } = calls[next++];
        const outcome = await callWithRawRequests(client, known, requests, { deadlineMs: options.deadlineMs ?? (known.responseStream ? STREAM_WAIT_MS : ANSWER_BOUND_MS), metadata: options.metadata ?? metadata });
        probes.push({ method: known.path, input, status: statusName(outcome.code), details: outcome.details, outcome, known });
      }
    };
    try {
      await Promise.all(Array.from({ length: options.concurrency ?? PROBE_CONCURRENCY }, runCalls));
      return probes;
    } finally {
      client.close();
    }
  }

  const isServed = (app: App, method: KnownMethod) => served.get(app)!.includes(method.service);

  it('covers every method: each client-streaming one has a valid message to start a call with', () => {
    expect(methods.length).toBeGreaterThanOrEqual(16);
    expect(methods.filter((m) => m.requestStream && VALID_STREAM_REQUEST[m.path] === undefined).map((m) => m.path)).toEqual([]);
  });

  describe.each(APPS)('%s', (app) => {
    it('answers bytes that are not a request of the method with INVALID_ARGUMENT naming the message, never INTERNAL or UNKNOWN', async () => {
      const inputs = { ...MALFORMED, ...DOUBTFUL };
      const probes = await probe(app, () => Object.fromEntries(Object.entries(inputs).map(([name, bytes]) => [name, [bytes]])));
      const wrong = probes.filter(({ known, input, outcome }) => {
        if (!isServed(app, known)) return outcome.code !== grpc.status.UNIMPLEMENTED;
        if (!decodes(known, inputs[input])) return outcome.code !== grpc.status.INVALID_ARGUMENT || !/malformed protobuf/.test(outcome.details) || !/\b0 of this call\b/.test(outcome.details);
        // A message that decodes: whatever the method makes of it, as long as it is typed and a unary call answers.
        return UNTYPED.has(outcome.code) || (!known.responseStream && outcome.code === grpc.status.DEADLINE_EXCEEDED);
      });
      expect(wrong.map(({ method, input, status, details }) => ({ method, input, status, details }))).toEqual([]);
    });

    it('takes a well-formed message of the largest size it accepts, and answers one byte more with RESOURCE_EXHAUSTED', async () => {
      const max = MAX_MESSAGE_BYTES[app];
      const callNumber = () => callCounter++;
      const probes = await probe(app, (method): Record<string, Buffer[]> => {
        if (!isServed(app, method)) return {};
        const valid = validRequest(method, 0, callNumber());
        return { 'the largest message': [padTo(valid, max)], 'one byte over': [padTo(validRequest(method, 0, callNumber()), max + 1)] };
      }, { concurrency: LARGE_CONCURRENCY });
      const wrong = probes.filter(({ input, known, outcome }) =>
        input === 'one byte over'
          ? outcome.code !== grpc.status.RESOURCE_EXHAUSTED
          : UNTYPED.has(outcome.code) || outcome.code === grpc.status.RESOURCE_EXHAUSTED || (!known.responseStream && outcome.code === grpc.status.DEADLINE_EXCEEDED),
      );
      expect(wrong.map(({ method, input, status, details }) => ({ method, input, status, details }))).toEqual([]);
    });

    it('ends a client stream that turns to garbage with INVALID_ARGUMENT naming the message index, and takes thousands of tiny messages', async () => {
      // Each of these calls ends once its requests are in: none may be left waiting.
      const probes = await probe(app, (method): Record<string, Buffer[]> => {
        if (!method.requestStream) return {};
        const call = callCounter++;
        const tiny = callCounter++;
        return {
          'a valid message then garbage': [validRequest(method, 0, call), MALFORMED['a truncated varint']],
          [`${TINY_MESSAGES} tiny messages`]: Array.from({ length: TINY_MESSAGES }, (_, n) => validRequest(method, n, tiny)),
        };
      }, { deadlineMs: ANSWER_BOUND_MS });
      const wrong = probes.filter(({ input, known, outcome }) => {
        if (!isServed(app, known)) return outcome.code !== grpc.status.UNIMPLEMENTED;
        if (input === 'a valid message then garbage') return outcome.code !== grpc.status.INVALID_ARGUMENT || !/\b1 of this call\b/.test(outcome.details);
        return outcome.code !== grpc.status.OK;
      });
      expect(wrong.map(({ method, input, status, details }) => ({ method, input, status, details }))).toEqual([]);
    });

    it('answers UNAUTHENTICATED without the token on every method but the open ones', async () => {
      const probes = await probe(app, (method): Record<string, Buffer[]> => (isServed(app, method) ? { 'no token': [validRequest(method, 0, callCounter++)] } : {}), { metadata: new grpc.Metadata() });
      const wrong = probes.filter(({ method, outcome }) => (outcome.code === grpc.status.UNAUTHENTICATED) === OPEN_METHODS.has(method) || UNTYPED.has(outcome.code));
      expect(wrong.map(({ method, status, details }) => ({ method, status, details }))).toEqual([]);
    });

  });

  describe("the gateway's HTTP port: every route and WebSocket path of its OpenAPI document", () => {
    let routes: Route[];
    const port = () => services.get('gateway')!.ports.HTTP;

    beforeAll(async () => {
      const answer = await rawHttpExchange(port(), request('GET', '/api/openapi.json', {}), { waitMs: HTTP_WAIT_MS });
      routes = routesOf(answer.body);
    });

    it('documents the routes this suite walks', () => {
      expect(routes.filter((r) => !r.websocket).length).toBeGreaterThanOrEqual(10);
      expect(routes.filter((r) => r.websocket).map((r) => r.path)).toEqual(['/ws', '/ws/replay', '/ws/video']);
    });

    it('answers hostile queries, other methods and malformed tokens on every route with a 4xx JSON body naming the problem, never 5xx', async () => {
      const requests = routes
        .filter((r) => !r.websocket)
        .flatMap((route) => [
          ...hostileQueries(route).map((query) => ({ route, what: `query ${query.slice(0, 40)}`, bytes: request(route.method, `${route.path}${query}`, { authorization: `Bearer ${TOKEN}` }) })),
          ...OTHER_METHODS.filter((m) => !routes.some((r) => r.path === route.path && r.method === m)).map((method) => ({
            route,
            what: `method ${method}`,
            bytes: request(method, route.path, { authorization: `Bearer ${TOKEN}` }),
          })),
          ...(route.guarded ? HOSTILE_AUTHORIZATIONS.map((authorization) => ({ route, what: `authorization ${authorization.slice(0, 30)}`, bytes: request(route.method, route.path, authorization === '' ? {} : { authorization }) })) : []),
        ]);
      const answers = await exchangeAll(port(), requests.map((r) => r.bytes));
      const wrong = requests.map((r, i) => ({ ...r, answer: answers[i] })).filter(({ route, answer }) => !isTypedHttpAnswer(answer, route));
      expect(wrong.map(({ route, what, answer }) => ({ route: `${route.method} ${route.path}`, what, ...summary(answer) }))).toEqual([]);
      // A wrong token is named, never echoed.
      expect(answers.filter((a) => JSON.stringify(a.body).includes('not-the-token'))).toEqual([]);
    });

    it('answers malformed bodies of every route that takes one with 400 JSON naming the body or the field', async () => {
      const posts = routes.filter((r) => r.takesBody);
      expect(posts.map((r) => r.path)).toContain('/api/commands');
      const requests = posts.flatMap((route) =>
        Object.entries(HOSTILE_BODIES).map(([what, { type, body, encoding }]) => ({
          route,
          what,
          bytes: request(route.method, route.path, { authorization: `Bearer ${TOKEN}`, ...(type === undefined ? {} : { 'content-type': type }), ...(encoding === undefined ? {} : { 'content-encoding': encoding }) }, body),
        })),
      );
      const answers = await exchangeAll(port(), requests.map((r) => r.bytes));
      const wrong = requests
        .map((r, i) => ({ ...r, answer: answers[i] }))
        .filter(({ answer }) => answer.status !== 400 || typeof answer.body?.error !== 'string' || typeof answer.body?.field !== 'string');
      expect(wrong.map(({ route, what, answer }) => ({ route: route.path, what, ...summary(answer) }))).toEqual([]);
    });

    it('answers hostile upgrades of every WebSocket path with a 4xx JSON body naming the problem', async () => {
      const requests = routes
        .filter((r) => r.websocket)
        .flatMap((route) => [
          ...hostileQueries(route).map((query) => ({ route, what: `query ${query.slice(0, 40)}`, bytes: request('GET', `${route.path}${query}`, { ...UPGRADE_HEADERS, authorization: `Bearer ${TOKEN}` }) })),
          ...Object.entries(HOSTILE_HANDSHAKES).map(([what, headers]) => ({ route, what, bytes: request(headers.method ?? 'GET', `${route.path}?stream=adv-malformed`, { ...UPGRADE_HEADERS, authorization: `Bearer ${TOKEN}`, ...headers.set }, '', headers.drop) })),
          { route, what: 'a plain GET', bytes: request('GET', route.path, { authorization: `Bearer ${TOKEN}` }) },
          ...HOSTILE_AUTHORIZATIONS.map((authorization) => ({ route, what: `authorization ${authorization.slice(0, 30)}`, bytes: request('GET', `${route.path}?stream=adv-malformed`, { ...UPGRADE_HEADERS, ...(authorization === '' ? {} : { authorization }) }) })),
        ]);
      const answers = await exchangeAll(port(), requests.map((r) => r.bytes));
      // A query that happens to be acceptable opens the socket (101), which the exchange then closes.
      const wrong = requests.map((r, i) => ({ ...r, answer: answers[i] })).filter(({ route, answer }) => answer.status !== 101 && !isTypedHttpAnswer(answer, route));
      expect(wrong.map(({ route, what, answer }) => ({ route: route.path, what, ...summary(answer) }))).toEqual([]);
      expect(requests.filter((r, i) => r.what.startsWith('authorization') && answers[i].status !== 401).map((r) => r.what)).toEqual([]);
    });

    it('answers requests that are not well-formed HTTP with a 4xx JSON body naming the problem', async () => {
      const answers = await exchangeAll(port(), Object.values(MALFORMED_HTTP), { halfClose: true });
      const wrong = Object.keys(MALFORMED_HTTP)
        .map((what, i) => ({ what, answer: answers[i] }))
        .filter(({ answer }) => !isTypedHttpAnswer(answer, undefined) || answer.status < 400);
      expect(wrong.map(({ what, answer }) => ({ what, ...summary(answer) }))).toEqual([]);
    });
  });

  describe("the supplier's metrics port", () => {
    const port = () => services.get('supplier')!.ports.metrics;

    it('serves GET /metrics and answers everything else with a 4xx JSON body naming the problem', async () => {
      expect((await rawHttpExchange(port(), request('GET', '/metrics', {}), { waitMs: HTTP_WAIT_MS })).status).toBe(200);
      const route: Route = { path: '/metrics', method: 'GET', parameters: [], guarded: false, websocket: false, takesBody: false, documented: [200] };
      const requests = [
        ...hostileQueries(route).map((query) => request('GET', `/metrics${query}`, {})),
        ...OTHER_METHODS.map((method) => request(method, '/metrics', {})),
        request('GET', '/api/health', {}),
        request('GET', `/${'x'.repeat(2_000)}`, {}),
        request('GET', '/metrics', UPGRADE_HEADERS),
        ...Object.values(MALFORMED_HTTP),
      ];
      const answers = await exchangeAll(port(), requests, { halfClose: true });
      const wrong = requests.map((bytes, i) => ({ request: bytes.toString('latin1').split('\r\n')[0].slice(0, 60), answer: answers[i] })).filter(({ answer }) => !isTypedHttpAnswer(answer, route, false));
      expect(wrong.map(({ request: line, answer }) => ({ request: line, ...summary(answer) }))).toEqual([]);
    });
  });

  describe('afterwards', () => {
    it.each(APPS)('%s still serves, answers a normal call, and holds no more memory than the bound', async (app) => {
      const service = services.get(app)!;
      expect(service.child.exitCode).toBeNull();
      expect(await checkHealth(service.port)).toBe('SERVING');
      expect(await listReflectedServices(service.port)).toEqual(served.get(app));
      const rss = residentMiB(service.child.pid!);
      console.log(`${app} RSS after the barrage: ${rss.toFixed(0)} MiB`);
      expect(rss).toBeLessThan(RSS_BOUND_MIB);
      expect(service.output.filter((line) => /uncaught|unhandled|FATAL/i.test(line))).toEqual([]);
    });
  });
});
