// The gateway's HTTP and WebSocket side, and its gRPC services behind the token guard, in-process on
// loopback (gRPC and HTTP on port 0), over real HTTP (fetch), a real `ws` client and real gRPC clients.
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { AckStatus, Command, CommandAck, CommandRouterClient, FrameSupplierClient, PoolMode, PoolStats, Result, ResultHubClient, ResultKind, ViewerMessage } from '@framewire/proto';
import { CommandListener, CommandRouter, DEFAULT_MAX_PENDING_PER_TARGET, listenForCommands, MAX_COMMAND_TIMEOUT_MS } from '@framewire/commands';
import { DEFAULT_WS_MAX_BUFFERED_BYTES, exampleResult, ResultHub, ResultsWebSocket, WS_PATH } from '@framewire/results';
import { tokenMetadata } from '@framewire/grpc-client';
import { createServiceLogger, RunningService, secretText, startService } from '@framewire/service-runtime';
import { loadGatewayConfig } from './config';
import { GATEWAY_SERVICE } from './gateway.module';
import { GATEWAY_CONTROLLERS } from './http/api.controller';
import { documentedOperations, WebSocketUpgrades } from '@framewire/http-edge';
import { DEFAULT_MAX_REPLAYS, VideoRelay } from '@framewire/viewer-video';
import { subscribeFrames } from '@framewire/frame-client';
import { openPull, rawHttpExchange, startServiceProcess, stopServiceProcess, supplierStats, testFrame, tryWebSocket } from '@framewire/testing';

const TOKEN = 'a-test-token-of-sufficient-length';
/** Nothing listens there: probes of capture and supplier fail fast. */
const NOWHERE = '127.0.0.1:1';
const WAIT_BOUND_MS = 10_000;

interface Gateway {
  running: RunningService;
  base: string;
  grpcAddress: string;
  hub: ResultHub;
  router: CommandRouter;
  websocket: ResultsWebSocket;
  stop(): Promise<void>;
}

async function startGateway(env: Record<string, string> = {}): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), 'fw-gateway-http-'));
  const config = loadGatewayConfig({
    FW_GRPC_HOST: '127.0.0.1',
    FW_GRPC_PORT: '0',
    FW_HTTP_PORT: '0',
    FW_ARCHIVE_DIR: dir,
    FW_CAPTURE_ADDRESSES: NOWHERE,
    FW_SUPPLIER_ADDRESS: NOWHERE,
    FW_SHUTDOWN_TIMEOUT_MS: '5000',
    ...env,
  });
  const logger = createServiceLogger('gateway', 'error', 'json');
  const running = await startService(config, GATEWAY_SERVICE, logger);
  return {
    running,
    base: `http://127.0.0.1:${running.httpPort}`,
    grpcAddress: `127.0.0.1:${running.grpcPort}`,
    hub: running.app.get(ResultHub),
    router: running.app.get(CommandRouter),
    websocket: running.app.get(ResultsWebSocket),
    stop: async () => {
      await running.stop('test');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `condition` until it holds (a bound, not a speed assertion). */
async function eventually(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_BOUND_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function publishOverGrpc(address: string, results: Result[], token?: string): Promise<number> {
  const client = new ResultHubClient(address, grpc.credentials.createInsecure());
  return new Promise<number>((resolve, reject) => {
    const call = client.publishResults(tokenMetadata(token === undefined ? undefined : secretText(token)), (err, response) => {
      client.close();
      if (err) reject(err);
      else resolve(response.resultsReceived);
    });
    for (const result of results) call.write({ result });
    call.end();
  });
}

async function openWebSocket(url: string): Promise<{ ws: WebSocket; messages: Result[] }> {
  const ws = new WebSocket(url);
  const messages: Result[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) messages.push(Result.decode(data));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, messages };
}

/** A valid stage message (formats.md §4) of about `textBytes`: one layer with one text op. Its
 *  encoding is a copy, so tests can publish many large results cheaply. */
function largeStage(textBytes: number): Buffer {
  const length: number[] = [];
  for (let n = textBytes; ; n >>>= 7) {
    if (n < 0x80) {
      length.push(n);
      break;
    }
    length.push((n & 0x7f) | 0x80);
  }
  const header = [1, 0, 0x00, 1, 0x02, 0, 0, ...length]; // one layer: id 0, master, one op: text at (0, 0)
  return Buffer.concat([Buffer.alloc(8), Buffer.from(header), Buffer.alloc(textBytes, 0x61), Buffer.from([0xff, 0xff])]);
}

/** A service attached for commands over the real SubscribeCommands (libs/commands' listener);
 *  its handler of worker.set_fps succeeds, or throws when `fails`. */
function attachService(address: string, serviceId: string, fails = false): { received: Command[]; listener: CommandListener } {
  const received: Command[] = [];
  const listener = listenForCommands({
    address,
    serviceId,
    credentials: grpc.credentials.createInsecure(),
    handlers: {
      'worker.set_fps': (payload: { fps: number }, command: Command) => {
        received.push(command);
        if (fails) throw new Error(`fps ${payload.fps} is not supported`);
        return `fps set to ${payload.fps}`;
      },
    },
  });
  return { received, listener };
}

function postCommand(base: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}/api/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('gateway HTTP API without a token', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startGateway();
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  it('answers the latest result of a kind published through gRPC PublishResults', async () => {
    const results = [1, 2, 3].map((seq) => exampleResult(ResultKind.RESULT_KIND_TRACKS, { streamId: 'latest-cam', frameSequence: seq }));
    expect(await publishOverGrpc(gateway.grpcAddress, results)).toBe(3);
    const response = await fetch(`${gateway.base}/api/results/latest?stream=latest-cam&kind=tracks`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { kind: string; result: { streamId: string; frameSequence: number; tracks: unknown } };
    expect(body.kind).toBe('tracks');
    expect(body.result).toEqual(Result.toJSON(results[2]));
  });

  it('tags the latest result: asked again with its tag, answers 304 without a body until a newer result arrives', async () => {
    const url = `${gateway.base}/api/results/latest?stream=latest-etag&kind=tracks`;
    const [first, second] = [1, 2].map((seq) => exampleResult(ResultKind.RESULT_KIND_TRACKS, { streamId: 'latest-etag', frameSequence: seq }));
    await publishOverGrpc(gateway.grpcAddress, [first]);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/json');
    const etag = response.headers.get('etag') as string;
    expect(etag).toMatch(/^"[0-9a-z]+-[0-9a-z]+"$/);
    expect(((await response.json()) as { result: unknown }).result).toEqual(Result.toJSON(first));
    const again = await fetch(url, { headers: { 'If-None-Match': `W/"other", ${etag}` } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    await publishOverGrpc(gateway.grpcAddress, [second]);
    const newer = await fetch(url, { headers: { 'If-None-Match': etag } });
    expect(newer.status).toBe(200);
    expect(newer.headers.get('etag')).not.toBe(etag);
    expect(((await newer.json()) as { result: unknown }).result).toEqual(Result.toJSON(second));
  });

  it('answers the latest result of one worker when the query names it', async () => {
    const results = ['w-a', 'w-b', 'w-a', 'w-b'].map((workerId, i) =>
      exampleResult(ResultKind.RESULT_KIND_TRACKS, { streamId: 'latest-workers', workerId, frameSequence: i + 1 }),
    );
    expect(await publishOverGrpc(gateway.grpcAddress, results)).toBe(4);
    const latestOf = async (query: string) => {
      const response = await fetch(`${gateway.base}/api/results/latest?stream=latest-workers&kind=tracks${query}`);
      return { status: response.status, body: (await response.json()) as { result?: unknown; field?: string; error?: string } };
    };
    expect(await latestOf('&worker=w-a')).toEqual({ status: 200, body: expect.objectContaining({ result: Result.toJSON(results[2]) }) });
    expect(await latestOf('&worker=w-b')).toEqual({ status: 200, body: expect.objectContaining({ result: Result.toJSON(results[3]) }) });
    expect(await latestOf('')).toEqual({ status: 200, body: expect.objectContaining({ result: Result.toJSON(results[3]) }) });
    const none = await latestOf('&worker=w-c');
    expect(none).toEqual({ status: 404, body: { field: 'worker', error: 'no tracks result for stream "latest-workers" from worker "w-c" yet' } });
    const tooLong = await latestOf(`&worker=${'w'.repeat(300)}`);
    expect(tooLong).toMatchObject({ status: 400, body: { field: 'worker' } });
  });

  it('answers 400 naming the parameter for a bad or missing query, and 404 when there is no result', async () => {
    const missing = await fetch(`${gateway.base}/api/results/latest?stream=latest-cam`);
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ field: 'kind' });
    const bad = await fetch(`${gateway.base}/api/results/latest?stream=latest-cam&kind=faces`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'kind', error: expect.stringContaining('faces') });
    const none = await fetch(`${gateway.base}/api/results/latest?stream=no-such-stream&kind=keypoints`);
    expect(none.status).toBe(404);
    expect(none.headers.get('content-type')).toContain('application/json');
    expect(await none.json()).toMatchObject({ error: expect.stringContaining('no-such-stream') });
  });

  it('serves the viewer page and its script, and lists the recorded streams', async () => {
    const page = await fetch(`${gateway.base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('framewire viewer');
    const script = await fetch(`${gateway.base}/viewer.js`);
    expect(script.headers.get('content-type')).toContain('text/javascript');
    expect((await script.text()).length).toBeGreaterThan(1000);
    const streams = await fetch(`${gateway.base}/api/replay/streams`);
    expect(await streams.json()).toEqual({ frameRecording: false, streams: expect.any(Array) });
    const bad = await fetch(`${gateway.base}/api/replay/streams?stream=x`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'stream' });
  });

  it('answers JSON, never HTML, for an unknown route', async () => {
    const response = await fetch(`${gateway.base}/api/nothing-here`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(await response.json()).toHaveProperty('error');
  });

  describe('requests refused before any route or endpoint sees them', () => {
    const UPGRADE = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n';
    const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
    const port = () => Number(new URL(gateway.base).port);

    it.each([
      ['an upgrade whose target is not a URL', `GET http://[::1 HTTP/1.1\r\nHost: x\r\n${UPGRADE}${KEY}\r\n`, 400, 'url'],
      ['an upgrade by POST', `POST /ws HTTP/1.1\r\nHost: x\r\n${UPGRADE}${KEY}\r\n`, 405, 'method'],
      ['an upgrade without Sec-WebSocket-Key', `GET /ws HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n`, 400, 'sec-websocket-key'],
      ['an upgrade to another protocol', `GET /ws/video?stream=a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n${KEY}\r\n`, 400, 'upgrade'],
      ['an upgrade of protocol version 7', `GET /ws/replay?stream=a HTTP/1.1\r\nHost: x\r\n${UPGRADE.replace('13', '7')}${KEY}\r\n`, 400, 'sec-websocket-version'],
      ['an upgrade offering a subprotocol that is not a token', `GET /ws HTTP/1.1\r\nHost: x\r\n${UPGRADE}${KEY}Sec-WebSocket-Protocol: a b, c\r\n\r\n`, 400, 'sec-websocket-protocol'],
      ['a request whose target is not a URL', 'GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'url'],
      ['a request head of 20,000 bytes', `GET /api/stats HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers'],
      ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 400, 'request'],
    ])('answers %s with JSON naming the problem and the security headers, and keeps serving', async (_what, request, status, field) => {
      const answer = await rawHttpExchange(port(), request, { waitMs: WAIT_BOUND_MS });
      expect({ status: answer.status, field: answer.body.field, error: typeof answer.body.error }).toEqual({ status, field, error: 'string' });
      expect(answer.headers['content-security-policy']).toContain("default-src 'none'");
      expect(answer.headers['x-frame-options']).toBe('DENY');
      expect((await fetch(`${gateway.base}/api/stats`)).status).toBe(200);
    });
  });

  it('lists streams with results and their kinds', async () => {
    gateway.hub.publish(exampleResult(ResultKind.RESULT_KIND_KEYPOINTS, { streamId: 'streams-cam' }));
    const body = (await (await fetch(`${gateway.base}/api/streams`)).json()) as { streams: { streamId: string; results: { kinds: string[] } | null }[] };
    expect(body.streams.find((s) => s.streamId === 'streams-cam')?.results?.kinds).toEqual(['keypoints']);
  });

  it('reports 503 with every failing check listed when nothing of the pipeline runs', async () => {
    const response = await fetch(`${gateway.base}/api/health`);
    expect(response.status).toBe(503);
    const report = (await response.json()) as { status: string; checks: { name: string; ok: boolean; detail: string }[] };
    expect(report.status).toBe('failing');
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ['gateway', true],
      ['capture', false],
      ['supplier', false],
      ['frames', false],
      ['workers', false],
    ]);
    expect(report.checks.find((c) => c.name === 'capture')?.detail).toContain(NOWHERE);
  });

  it('serves statistics with the supplier marked unavailable, worker latency and hub counters', async () => {
    gateway.hub.publish(exampleResult(ResultKind.RESULT_KIND_DETECTIONS, { workerId: 'stats-worker', streamId: 'stats-cam' }));
    const stats = (await (await fetch(`${gateway.base}/api/stats`)).json()) as {
      supplier: { available: boolean };
      workers: { workerId: string; latency: { samples: number } }[];
      results: { published: number };
    };
    expect(stats.supplier.available).toBe(false);
    expect(stats.workers.find((w) => w.workerId === 'stats-worker')?.latency.samples).toBe(1);
    expect(stats.results.published).toBeGreaterThan(0);
  });

  it('serves Prometheus metrics from its own registry', async () => {
    gateway.hub.publish(exampleResult(ResultKind.RESULT_KIND_SEGMENTATION, { streamId: 'metrics-cam' }));
    const response = await fetch(`${gateway.base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toMatch(/framewire_gateway_results_received_total\{kind="segmentation"\} [1-9]/);
    for (const name of ['results_rejected_total', 'result_subscribers', 'subscriber_drops_total', 'websocket_clients', 'latency_seconds']) {
      expect(text).toContain(`framewire_gateway_${name}`);
    }
  });

  describe('WebSocket /ws', () => {
    it('delivers only the results that match the query, one protobuf Result per binary message', async () => {
      const { ws, messages } = await openWebSocket(`${gateway.base.replace('http', 'ws')}${WS_PATH}?stream=ws-cam&kind=tracks,keypoints`);
      try {
        await eventually(() => gateway.hub.stats().subscribers > 0, 'the WebSocket subscription');
        const wanted = [
          exampleResult(ResultKind.RESULT_KIND_TRACKS, { streamId: 'ws-cam', frameSequence: 1 }),
          exampleResult(ResultKind.RESULT_KIND_KEYPOINTS, { streamId: 'ws-cam', frameSequence: 2 }),
        ];
        await publishOverGrpc(gateway.grpcAddress, [
          wanted[0],
          exampleResult(ResultKind.RESULT_KIND_SEGMENTATION, { streamId: 'ws-cam', frameSequence: 1 }),
          exampleResult(ResultKind.RESULT_KIND_TRACKS, { streamId: 'other-cam', frameSequence: 1 }),
          wanted[1],
        ]);
        await eventually(() => messages.length >= 2, 'two results');
        // A later marker proves nothing else was on its way.
        const marker = exampleResult(ResultKind.RESULT_KIND_TRACKS, { streamId: 'ws-cam', frameSequence: 3 });
        gateway.hub.publish(marker);
        await eventually(() => messages.length >= 3, 'the marker');
        expect(messages).toEqual([...wanted, marker]);
      } finally {
        ws.close();
      }
    });

    it('refuses the upgrade with 400 naming a bad parameter', async () => {
      const ws = new WebSocket(`${gateway.base.replace('http', 'ws')}${WS_PATH}?kind=faces`);
      const { statusCode, body } = await new Promise<{ statusCode: number; body: string }>((resolve, reject) => {
        ws.once('unexpected-response', (_req, res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, body: text }));
        });
        ws.once('open', () => reject(new Error('the upgrade was accepted')));
      });
      expect(statusCode).toBe(400);
      expect(JSON.parse(body)).toMatchObject({ field: 'kind' });
    });

    it.each([
      ['/ws/video', 'stream'],
      ['/ws/video?stream=../etc', 'stream'],
      ['/ws/video?stream=cam-1&fps=30', 'fps'],
      ['/ws/replay?stream=cam-1&from=yesterday', 'from'],
      ['/ws/replay?stream=cam-1&from=20&to=10', 'from'],
      ['/ws/replay?stream=cam-1&pace=slow', 'pace'],
      ['/ws/replay?stream=cam-1&kind=faces', 'kind'],
      ['/ws/nothing', undefined],
    ])('refuses the viewer upgrade %s naming %s', async (path, field) => {
      const ws = new WebSocket(`${gateway.base.replace('http', 'ws')}${path}`);
      const { statusCode, body } = await new Promise<{ statusCode: number; body: string }>((resolve, reject) => {
        ws.once('unexpected-response', (_req, res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, body: text }));
        });
        ws.once('open', () => reject(new Error('the upgrade was accepted')));
      });
      expect(statusCode).toBe(field === undefined ? 404 : 400);
      expect(JSON.parse(body)).toMatchObject(field === undefined ? { error: expect.any(String) } : { field });
    });

    it('replays an empty archive as a replay_end at once and closes with 1000', async () => {
      const ws = new WebSocket(`${gateway.base.replace('http', 'ws')}/ws/replay?stream=never-recorded&pace=fast`);
      const messages: Buffer[] = [];
      ws.on('message', (data: Buffer) => messages.push(data));
      const code = await new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
      expect(code).toBe(1000);
      expect(messages.map((m) => ViewerMessage.decode(m))).toEqual([expect.objectContaining({ replayEnd: { resultsSent: 0, framesSent: 0, error: '' } })]);
    });

    it('serves at most 8 replays at once, 503 JSON beyond, and takes a new one when one closes', async () => {
      // A minute between the two results: a replay at the recorded pace stays open after the first.
      const spaced = [1, 2].map((seq) => exampleResult(ResultKind.RESULT_KIND_DETECTIONS, { streamId: 'replay-cap', frameSequence: seq, captureTimeUs: 1e15 + seq * 60_000_000 }));
      await publishOverGrpc(gateway.grpcAddress, spaced);
      const url = `${gateway.base.replace('http', 'ws')}/ws/replay?stream=replay-cap&video=off`;
      // Recorded once a fast replay has both.
      const recorded = async (): Promise<number> => {
        const ws = new WebSocket(`${url}&pace=fast`);
        const messages: ViewerMessage[] = [];
        ws.on('message', (data: Buffer) => messages.push(ViewerMessage.decode(data)));
        await new Promise((resolve) => ws.once('close', resolve));
        return messages.filter((m) => m.result).length;
      };
      await eventually(async () => (await recorded()) === 2, 'both results in the archive');
      const open = await Promise.all(Array.from({ length: DEFAULT_MAX_REPLAYS }, () => openWebSocket(url)));
      try {
        const refused = await tryWebSocket(url);
        expect(refused.opened ? 'opened' : { status: refused.status, body: refused.body }).toEqual({ status: 503, body: { error: `too many clients of /ws/replay (limit ${DEFAULT_MAX_REPLAYS})` } });
        open[0].ws.close();
        await eventually(async () => {
          const next = await tryWebSocket(url);
          if (next.opened) next.socket.close();
          return next.opened;
        }, 'a replay once another closed');
      } finally {
        for (const { ws } of open) ws.close();
      }
    });

    it('keeps a client that never reads within its bounds: results drop in its queue instead', async () => {
      const { ws } = await openWebSocket(`${gateway.base.replace('http', 'ws')}${WS_PATH}?stream=slow-cam`);
      ws.pause(); // stops reading the socket: the kernel buffers fill, then the gateway's
      try {
        await eventually(() => gateway.websocket.stats().clients === 1, 'the slow client');
        const dropsBefore = gateway.hub.stats().subscriberDrops;
        // About 100 KiB per result, 60 MiB in all: far beyond socket buffers and the send bound.
        const stage = largeStage(100 * 1024);
        let largest = 0;
        for (let seq = 1; seq <= 600; seq++) {
          const result = { ...exampleResult(ResultKind.RESULT_KIND_STAGE, { streamId: 'slow-cam', frameSequence: seq }), stage };
          largest = Math.max(largest, gateway.hub.publish(result).encoded().length);
          if (seq % 20 === 0) await new Promise((r) => setImmediate(r));
        }
        await eventually(() => gateway.hub.stats().subscriberDrops > dropsBefore, 'drops in the slow client queue');
        const [client] = gateway.websocket.clientStats();
        expect(client.dropped).toBeGreaterThan(0);
        // Sending stopped at the bound: never more than the bound plus one result was buffered.
        expect(client.maxBufferedBeforeSend).toBeLessThan(DEFAULT_WS_MAX_BUFFERED_BYTES);
        expect(client.bufferedAmount).toBeLessThanOrEqual(DEFAULT_WS_MAX_BUFFERED_BYTES + largest);
        expect(client.sent).toBeLessThan(600);
      } finally {
        ws.terminate();
      }
    });
  });

  describe('POST /api/commands', () => {
    it('routes a command to a service attached over SubscribeCommands and answers its ack with 200', async () => {
      const service = attachService(gateway.grpcAddress, 'worker-7');
      try {
        await eventually(() => gateway.router.attachedServices().includes('worker-7'), 'the command subscription');
        const response = await postCommand(gateway.base, { requestId: 'r-ok', target: 'worker-7', type: 'worker.set_fps', payload: { fps: 5 } });
        expect(response.status).toBe(200);
        expect(await response.json()).toMatchObject({ requestId: 'r-ok', status: 'success', responder: 'worker-7', message: 'fps set to 5' });
        expect(service.received).toHaveLength(1);
        expect(JSON.parse(service.received[0].payloadJson)).toEqual({ fps: 5 });
      } finally {
        await service.listener.close();
      }
    });

    it('answers 422 when the service acknowledges with an error', async () => {
      const service = attachService(gateway.grpcAddress, 'worker-8', true);
      try {
        await eventually(() => gateway.router.attachedServices().includes('worker-8'), 'the command subscription');
        const response = await postCommand(gateway.base, { requestId: 'r-err', target: 'worker-8', type: 'worker.set_fps', payload: { fps: 7 } });
        expect(response.status).toBe(422);
        expect(await response.json()).toMatchObject({ status: 'error', message: 'fps 7 is not supported' });
      } finally {
        await service.listener.close();
      }
    });

    it('answers 404 for an unknown target', async () => {
      const response = await postCommand(gateway.base, { requestId: 'r-404', target: 'nobody', type: 'capture.pause' });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ requestId: 'r-404', status: 'unknown_target' });
    });

    it('answers 503 naming the target, without sending, when too many commands wait for its acknowledgement', async () => {
      const delivered: string[] = [];
      const detach = gateway.router.attach('worker-busy', (c) => delivered.push(c.requestId));
      try {
        for (let i = 0; i < DEFAULT_MAX_PENDING_PER_TARGET; i++) {
          void gateway.router.send({ requestId: `fill-${i}`, target: 'worker-busy', type: 'worker.set_fps', payloadJson: '{"fps":5}', timeoutMs: 60_000 });
        }
        const response = await postCommand(gateway.base, { requestId: 'r-busy', target: 'worker-busy', type: 'worker.set_fps', payload: { fps: 5 } });
        expect(response.status).toBe(503);
        expect(await response.json()).toEqual({
          field: 'target',
          error: `the gateway is busy: ${DEFAULT_MAX_PENDING_PER_TARGET} commands for "worker-busy" wait for their acknowledgement (limit ${DEFAULT_MAX_PENDING_PER_TARGET}); retry later`,
        });
        expect(delivered).toHaveLength(DEFAULT_MAX_PENDING_PER_TARGET);
      } finally {
        for (let i = 0; i < DEFAULT_MAX_PENDING_PER_TARGET; i++) {
          gateway.router.acknowledge({ requestId: `fill-${i}`, status: AckStatus.ACK_STATUS_SUCCESS, message: '', responder: 'worker-busy', latencyUs: 0 }, 'worker-busy');
        }
        detach();
      }
    });

    it('answers 400 for an unknown command type', async () => {
      const response = await postCommand(gateway.base, { requestId: 'r-type', target: 'capture', type: 'capture.explode' });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ requestId: 'r-type', status: 'unknown_type', message: expect.stringContaining('capture.explode') });
    });

    it('answers 504 when the service does not acknowledge in time', async () => {
      // Attached over the raw RPC and never acknowledging.
      const client = new CommandRouterClient(gateway.grpcAddress, grpc.credentials.createInsecure());
      const call = client.subscribeCommands({ serviceId: 'worker-mute', poolId: '' });
      call.on('data', () => undefined);
      call.on('error', () => undefined);
      try {
        await eventually(() => gateway.router.attachedServices().includes('worker-mute'), 'the command subscription');
        const response = await postCommand(gateway.base, { requestId: 'r-slow', target: 'worker-mute', type: 'worker.set_fps', payload: { fps: 1 }, timeoutMs: 50 });
        expect(response.status).toBe(504);
        expect(await response.json()).toMatchObject({ requestId: 'r-slow', status: 'timeout' });
      } finally {
        call.cancel();
        client.close();
      }
    });

    it("answers 400 naming the field the router refuses (in the body's spelling)", async () => {
      const response = await postCommand(gateway.base, { requestId: 'has spaces', target: 'worker-1', type: 'worker.set_fps', payload: { fps: 1 } });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ field: 'requestId', error: expect.stringContaining('request_id') });
    });

    const DEEP = '['.repeat(20_000) + ']'.repeat(20_000);
    const command = (payload: string) => `{"requestId":"r","target":"capture","type":"capture.pause","payload":${payload}}`;
    it.each([
      ['not JSON', '{"requestId": "r",', 'body', {}],
      ['a wrong type', { requestId: 'r', target: 'capture', type: 'capture.pause', timeoutMs: 'soon' }, 'timeoutMs', {}],
      ['a missing field', { target: 'capture', type: 'capture.pause' }, 'requestId', {}],
      ['over 64 KiB', { requestId: 'r', target: 'capture', type: 'capture.pause', payload: { blob: 'x'.repeat(70 * 1024) } }, 'body', {}],
      ['nested 20,000 deep in its payload, in under 64 KiB', command(`{"a":${DEEP}}`), 'body', {}],
      ['nested 20,000 deep as a whole', DEEP, 'body', {}],
      ['a payload nested deeper than a command may be', command(`${'{"a":'.repeat(20)}1${'}'.repeat(20)}`), 'payload', {}],
      ['said to be gzip but is not', command('{}'), 'body', { 'content-encoding': 'gzip' }],
    ])('answers 400 naming the field for a body that is %s', async (_what, body, field, headers) => {
      const response = await postCommand(gateway.base, body, headers);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toContain('application/json');
      const answer = (await response.json()) as { error: string };
      expect(answer).toMatchObject({ field, error: expect.any(String) });
      expect(answer.error).not.toMatch(/\n\s+at /);
    });

    it('answers 400 naming timeoutMs and the enforced bound for a timeout above it, as the OpenAPI document says', async () => {
      const response = await postCommand(gateway.base, { requestId: 'late', target: 'capture', type: 'capture.pause', timeoutMs: MAX_COMMAND_TIMEOUT_MS + 1 });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ field: 'timeoutMs', error: expect.stringContaining(String(MAX_COMMAND_TIMEOUT_MS)) });
      const openapi = (await (await fetch(`${gateway.base}/api/openapi.json`)).json()) as { components: { schemas: Record<string, { properties: Record<string, { maximum?: number }> }> } };
      expect(openapi.components.schemas.CommandRequest.properties.timeoutMs.maximum).toBe(MAX_COMMAND_TIMEOUT_MS);
    });
  });

  it('documents every route it registers in /api/openapi.json, and nothing else', async () => {
    const document = (await (await fetch(`${gateway.base}/api/openapi.json`)).json()) as { openapi: string; paths: Record<string, object> };
    expect(document.openapi).toBe('3.1.0');
    // Routes from Nest's own metadata of the controllers, plus the WebSocket upgrade.
    const registered = GATEWAY_CONTROLLERS.flatMap((controller) => {
      const prefix = Reflect.getMetadata('path', controller) as string;
      return Object.getOwnPropertyNames(controller.prototype)
        .filter((name) => name !== 'constructor')
        .map((name) => (controller.prototype as unknown as Record<string, unknown>)[name])
        .filter((fn): fn is object => typeof fn === 'function' && Reflect.getMetadata('path', fn) !== undefined)
        .map((fn) => {
          const method = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'][Reflect.getMetadata('method', fn) as number];
          const path = `/${[prefix, Reflect.getMetadata('path', fn) as string].filter((p) => p && p !== '/').join('/')}`;
          return `${method} ${path}`;
        });
    });
    const upgrades = gateway.running.app.get(WebSocketUpgrades).paths.map((path) => `GET ${path}`);
    expect(upgrades).toEqual(expect.arrayContaining([`GET ${WS_PATH}`, 'GET /ws/video', 'GET /ws/replay']));
    expect([...registered, ...upgrades].sort()).toEqual(documentedOperations(document).sort());
  });
});

describe('gateway HTTP API with a token', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startGateway({ FW_AUTH_TOKEN: TOKEN });
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token-wrong-token' }],
    ['a malformed header', { authorization: TOKEN }],
  ])('refuses a command with %s: 401 JSON', async (_what, headers) => {
    const response = await postCommand(gateway.base, { requestId: 'r', target: 'capture', type: 'capture.pause' }, headers);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ field: 'authorization', error: expect.any(String) });
  });

  it('accepts a command with the right token', async () => {
    const response = await postCommand(gateway.base, { requestId: 'r-tok', target: 'nobody', type: 'capture.pause' }, { authorization: `Bearer ${TOKEN}` });
    expect(response.status).toBe(404); // past the token check: the target is unknown
  });

  it('keeps /api/health, /metrics, the counters and the page open', async () => {
    expect((await fetch(`${gateway.base}/api/health`)).status).toBe(503);
    for (const path of ['/metrics', '/api/stats', '/api/streams', '/api/openapi.json', '/', '/viewer.js', '/viewer.css']) {
      expect({ path, status: (await fetch(`${gateway.base}${path}`)).status }).toEqual({ path, status: 200 });
    }
  });

  it.each(['/api/results/latest?stream=cam-1&kind=tracks', '/api/replay/streams'])('guards the read %s: 401 JSON without the token, served with it', async (path) => {
    const refused = await fetch(`${gateway.base}${path}`);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ field: 'authorization', error: expect.stringContaining('missing bearer token') });
    const wrong = await fetch(`${gateway.base}${path}`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } });
    expect(wrong.status).toBe(401);
    const served = await fetch(`${gateway.base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    // Past the token: 404 (no result yet) or 200 (the recorded streams).
    expect([200, 404]).toContain(served.status);
  });
});

describe('gateway over a real supplier with a worker pool', () => {
  const POOL = 'gw-pool';
  const STREAM = 'cam-pool';
  const FRAMES = 30;

  it('serves the pools in /api/stats as GetStats has them, and counts a member on standby as a healthy worker', async () => {
    const supplier = await startServiceProcess('supplier');
    const address = `127.0.0.1:${supplier.port}`;
    // A sticky pool of two members on one stream: one owns it, the other waits with its credit.
    const members = ['gw-m1', 'gw-m2'].map((workerId) =>
      openPull(address, { workerId, streamId: STREAM, poolId: POOL, poolMode: PoolMode.POOL_MODE_STICKY }, { keepTaking: true }),
    );
    const client = new FrameSupplierClient(address, grpc.credentials.createInsecure());
    const publisher = client.publish(() => undefined);
    let gateway: Gateway | undefined;
    try {
      const poolAtSupplier = async () => (await supplierStats(address)).pools.find((p) => p.poolId === POOL);
      await eventually(async () => (await poolAtSupplier())?.members.length === 2, 'both members');
      for (let sequence = 1; sequence <= FRAMES; sequence++) publisher.write({ frame: testFrame(STREAM, sequence) });
      await eventually(async () => {
        const p = await poolAtSupplier();
        return p?.streams[0]?.published === FRAMES && p.streams[0].taken + p.streams[0].dropped === FRAMES;
      }, 'the pool to take or drop every frame');
      const expected = (await poolAtSupplier()) as PoolStats;
      const owner = expected.streams[0].owner;
      const standby = owner === 'gw-m1' ? 'gw-m2' : 'gw-m1';

      gateway = await startGateway({ FW_SUPPLIER_ADDRESS: address, FW_HEALTH_MIN_WORKERS: '2', FW_HEALTH_CACHE_MS: '0' });
      const stats = (await (await fetch(`${gateway.base}/api/stats`)).json()) as { supplier: { available: boolean; pools: PoolStats[]; workers: { workerId: string; poolId: string }[] } };
      expect(stats.supplier.available).toBe(true);
      expect(stats.supplier.pools).toEqual([expected]);
      expect(stats.supplier.workers.map((w) => [w.workerId, w.poolId]).sort()).toEqual([
        ['gw-m1', POOL],
        ['gw-m2', POOL],
      ]);

      // The owner analyses and publishes; the other member got no frame: standby, and healthy.
      await publishOverGrpc(gateway.grpcAddress, [exampleResult(ResultKind.RESULT_KIND_TRACKS, { workerId: owner, streamId: STREAM, frameSequence: FRAMES })]);
      const health = (await (await fetch(`${gateway.base}/api/health`)).json()) as { checks: { name: string; ok: boolean; detail: string }[] };
      const workers = health.checks.find((c) => c.name === 'workers');
      expect(workers).toEqual({
        name: 'workers',
        ok: true,
        detail: `healthy: ${owner} (publishing), ${standby} (standby in pool "${POOL}": owns no stream, 1 credit waiting, no frame for it in 3.0 s)`,
      });
    } finally {
      await gateway?.stop();
      publisher.cancel();
      for (const m of members) m.close();
      client.close();
      await stopServiceProcess(supplier);
    }
  });
});

describe('gateway shutdown', () => {
  it('closes WebSocket clients with 1001 and stops', async () => {
    const gateway = await startGateway();
    const { ws } = await openWebSocket(`${gateway.base.replace('http', 'ws')}${WS_PATH}`);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await gateway.stop();
    expect(await closed).toBe(1001);
  });

  it('closes video clients with 1001 and ends the relay on shutdown', async () => {
    // A real supplier with a stream (a worker's subscription makes it), which the relay admits.
    const supplier = await startServiceProcess('supplier');
    const worker = subscribeFrames({ address: `127.0.0.1:${supplier.port}`, workerId: 'w1', streamId: 'cam-1' });
    try {
      const gateway = await startGateway({ FW_SUPPLIER_ADDRESS: `127.0.0.1:${supplier.port}` });
      const relay = gateway.running.app.get(VideoRelay);
      let ws: WebSocket | undefined;
      await eventually(async () => {
        const outcome = await tryWebSocket(`${gateway.base.replace('http', 'ws')}/ws/video?stream=cam-1`);
        if (outcome.opened) ws = outcome.socket;
        return outcome.opened;
      }, 'the supplier to list cam-1');
      await eventually(() => relay.subscribedStreams().includes('cam-1'), 'the relay subscription');
      const closed = new Promise<number>((resolve) => ws!.once('close', (code) => resolve(code)));
      await gateway.stop();
      expect(await closed).toBe(1001);
      expect(relay.subscribedStreams()).toEqual([]);
    } finally {
      worker.close();
      await stopServiceProcess(supplier);
    }
  });
});

describe('gateway gRPC services with a token (GrpcBearerTokenGuard)', () => {
  let gateway: Gateway;
  let results: ResultHubClient;
  let commands: CommandRouterClient;
  const quietLogger = { log: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
  const FAST_RECONNECT = { initialMs: 20, maxMs: 100 };

  const sendOverGrpc = (client: CommandRouterClient, command: Partial<Command>, metadata = new grpc.Metadata()): Promise<CommandAck> => {
    const full: Command = { requestId: 'req-1', target: 'capture', type: 'capture.pause', payloadJson: '', timeoutMs: 0, ...command };
    return new Promise((resolve, reject) =>
      client.sendCommand({ command: full }, metadata, { deadline: Date.now() + WAIT_BOUND_MS }, (err, response) => (err ? reject(err) : resolve(response?.ack as CommandAck))),
    );
  };

  beforeEach(async () => {
    gateway = await startGateway({ FW_AUTH_TOKEN: TOKEN });
    results = new ResultHubClient(gateway.grpcAddress, grpc.credentials.createInsecure());
    commands = new CommandRouterClient(gateway.grpcAddress, grpc.credentials.createInsecure());
  });

  afterEach(async () => {
    results.close();
    commands.close();
    await gateway.stop();
  });

  it('refuses publishing without the right token with UNAUTHENTICATED', async () => {
    const one = [exampleResult(ResultKind.RESULT_KIND_TRACKS, { streamId: 'cam-1', workerId: 'w1' })];
    await expect(publishOverGrpc(gateway.grpcAddress, one)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(publishOverGrpc(gateway.grpcAddress, one, 'the-wrong-token-16chars')).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(await publishOverGrpc(gateway.grpcAddress, one, TOKEN)).toBe(1);
    expect(gateway.hub.stats().published).toBe(1);
  });

  it('refuses subscribing and replaying without the right token with UNAUTHENTICATED, and serves them with it', async () => {
    const subscribeStatus = (metadata: grpc.Metadata) =>
      new Promise<grpc.status>((resolve) => {
        const call = results.subscribeResults({ streamId: '', workerId: '', kinds: [] }, metadata);
        call.on('error', (error: grpc.ServiceError) => resolve(error.code));
        // Past the token check the call stays open: its metadata says so.
        call.on('metadata', () => {
          call.cancel();
          resolve(grpc.status.OK);
        });
      });
    const replayStatus = (metadata: grpc.Metadata) =>
      new Promise<grpc.status>((resolve) => {
        const call = results.replay({ streamId: 'cam-1', kinds: [], fromSequence: 0, toSequence: 0, fromTimeUs: 0, toTimeUs: 0, recordedPace: false }, metadata);
        call.on('data', () => undefined);
        call.on('error', (error: grpc.ServiceError) => resolve(error.code));
        call.on('end', () => resolve(grpc.status.OK));
      });
    for (const metadata of [new grpc.Metadata(), tokenMetadata(secretText('the-wrong-token-16chars'))]) {
      expect(await subscribeStatus(metadata)).toBe(grpc.status.UNAUTHENTICATED);
      expect(await replayStatus(metadata)).toBe(grpc.status.UNAUTHENTICATED);
    }
    expect(gateway.hub.subscriberCount).toBe(0);
    expect(await replayStatus(tokenMetadata(secretText(TOKEN)))).toBe(grpc.status.OK);
    const subscribed = results.subscribeResults({ streamId: '', workerId: '', kinds: [] }, tokenMetadata(secretText(TOKEN)));
    subscribed.on('error', () => undefined);
    try {
      await eventually(() => gateway.hub.subscriberCount === 1, 'the subscription with the token');
    } finally {
      subscribed.cancel();
    }
  });

  it('refuses every call without the right bearer token (UNAUTHENTICATED)', async () => {
    await expect(sendOverGrpc(commands, {})).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(sendOverGrpc(commands, {}, tokenMetadata(secretText('wrong-token-of-16-chars')))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const ack = { requestId: 'x', status: AckStatus.ACK_STATUS_SUCCESS, message: '', responder: 'capture', latencyUs: 0 };
    await expect(new Promise((resolve, reject) => commands.acknowledgeCommand({ ack }, (err, r) => (err ? reject(err) : resolve(r))))).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    const stream = commands.subscribeCommands({ serviceId: 'capture', poolId: '' }, tokenMetadata(secretText('wrong-token-of-16-chars')));
    const status = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(gateway.router.attachedServices()).toEqual([]);
  });

  it('a listener and a caller with the token get through', async () => {
    const listener = listenForCommands({
      address: gateway.grpcAddress,
      serviceId: 'capture',
      handlers: { 'capture.pause': () => 'paused' },
      metadata: tokenMetadata(secretText(TOKEN)),
      logger: quietLogger,
      reconnect: FAST_RECONNECT,
    });
    try {
      await eventually(() => listener.connected, 'the subscription');
      const ack = await sendOverGrpc(commands, {}, tokenMetadata(secretText(TOKEN)));
      expect(ack).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, message: 'paused' });
    } finally {
      await listener.close();
    }
  });
});
