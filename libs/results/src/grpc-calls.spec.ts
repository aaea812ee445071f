// The ResultHub gRPC service on a real grpc-js server on loopback, with the hub and the recorder on
// a temporary directory, driven by real grpc-js clients.
import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { Logger } from '@nestjs/common';
import { mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PublishResultsResponse, ReplayRequest, Result, ResultHubClient, ResultKind, SubscribeResultsRequest } from '@framewire/proto';
import { RESULT_KINDS, ResultHub, ResultRecorder, asReceived, exampleResult, replayOrder } from './index';
import { resultHubGrpcService, resultHubServiceDefinition, SUBSCRIBER_TRANSPORT_WINDOW_BYTES } from './grpc-calls';

const K = ResultKind;
const WAIT_TIMEOUT_MS = 10_000;

interface Gateway {
  server: grpc.Server;
  hub: ResultHub;
  recorder: ResultRecorder;
  client: ResultHubClient;
  directory: string;
}

const gateways: Gateway[] = [];

async function startGateway(options: { queueLength?: number; maxSegmentBytes?: number; maxReplays?: number } = {}): Promise<Gateway> {
  const directory = await mkdtemp(join(tmpdir(), 'fw-hub-grpc-'));
  const hub = new ResultHub({ subscriberQueueLength: options.queueLength });
  const recorder = new ResultRecorder({ directory, rotation: options.maxSegmentBytes ? { maxSegmentBytes: options.maxSegmentBytes } : undefined });
  hub.addTap((p) => recorder.record(p));
  const server = new grpc.Server();
  server.addService(
    resultHubServiceDefinition,
    resultHubGrpcService(hub, { archiveDirectory: directory, logger: new Logger('test'), maxReplays: options.maxReplays }),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new ResultHubClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const gateway = { server, hub, recorder, client, directory };
  gateways.push(gateway);
  return gateway;
}

afterEach(async () => {
  for (const g of gateways.splice(0)) {
    g.client.close();
    g.hub.close();
    await new Promise<void>((resolve) => g.server.tryShutdown(() => resolve()));
    g.server.forceShutdown();
    await g.recorder.close();
    await rm(g.directory, { recursive: true, force: true });
  }
});

function publish(client: ResultHubClient, results: Result[], metadata = new grpc.Metadata()): Promise<PublishResultsResponse> {
  return new Promise((resolve, reject) => {
    const call = client.publishResults(metadata, (err, response) => (err ? reject(err) : resolve(response)));
    for (const result of results) call.write({ result });
    call.end();
  });
}

interface Subscriber {
  call: grpc.ClientReadableStream<{ result?: Result }>;
  results: Result[];
}

function subscribe(client: ResultHubClient, request: Partial<SubscribeResultsRequest> = {}): Subscriber {
  const call = client.subscribeResults({ streamId: '', workerId: '', kinds: [], ...request });
  const sub: Subscriber = { call, results: [] };
  call.on('data', (m: { result?: Result }) => sub.results.push(m.result as Result));
  call.on('error', () => undefined);
  return sub;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function replay(client: ResultHubClient, request: Partial<ReplayRequest>): Promise<Result[]> {
  return new Promise((resolve, reject) => {
    const out: Result[] = [];
    const call = client.replay({ streamId: '', kinds: [], fromSequence: 0, toSequence: 0, fromTimeUs: 0, toTimeUs: 0, recordedPace: false, ...request });
    call.on('data', (m: { result?: Result }) => out.push(m.result as Result));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

/** A Replay of cam-1 at the recorded pace, kept open; `error` is set when it ends with one. */
function subscribeReplay(client: ResultHubClient): Subscriber & { error?: grpc.ServiceError } {
  const call = client.replay({ streamId: 'cam-1', kinds: [], fromSequence: 0, toSequence: 0, fromTimeUs: 0, toTimeUs: 0, recordedPace: true });
  const sub: Subscriber & { error?: grpc.ServiceError } = { call, results: [] };
  call.on('data', (m: { result?: Result }) => sub.results.push(m.result as Result));
  call.on('error', (error: grpc.ServiceError) => (sub.error = error));
  return sub;
}

function grpcError(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: grpc.ServiceError) => error,
  );
}

function results(streamId: string, workerId: string, frames: number, kinds = RESULT_KINDS): Result[] {
  const out: Result[] = [];
  for (let seq = 1; seq <= frames; seq++) for (const kind of kinds) out.push(exampleResult(kind, { streamId, workerId, frameSequence: seq }));
  return out;
}

describe('ResultHub over gRPC', () => {
  it('delivers to filtered subscribers exactly their results from two workers on two streams', async () => {
    const g = await startGateway();
    const all = subscribe(g.client);
    const cam2 = subscribe(g.client, { streamId: 'cam-2' });
    const w1Tracks = subscribe(g.client, { workerId: 'w1', kinds: [K.RESULT_KIND_TRACKS, K.RESULT_KIND_STAGE] });
    await until(() => g.hub.subscriberCount === 3, 'three subscribers');
    const a = results('cam-1', 'w1', 10);
    const b = results('cam-2', 'w2', 10);
    const [ra, rb] = await Promise.all([publish(g.client, a), publish(g.client, b)]);
    expect(ra.resultsReceived).toBe(a.length);
    expect(rb.resultsReceived).toBe(b.length);
    await until(() => all.results.length === a.length + b.length, 'every result');
    await until(() => cam2.results.length === b.length && w1Tracks.results.length === 20, 'filtered results');
    expect(cam2.results).toStrictEqual(b.map(asReceived));
    expect(w1Tracks.results).toStrictEqual(a.filter((r) => r.tracks || r.stage).map(asReceived));
    expect(all.results.filter((r) => r.streamId === 'cam-1')).toStrictEqual(a.map(asReceived));
    for (const s of [all, cam2, w1Tracks]) s.call.cancel();
    await until(() => g.hub.subscriberCount === 0, 'unsubscribe on cancel');
  });

  it('lets a subscriber that never reads lose old results without slowing another, with bounded memory', async () => {
    const queueLength = 64;
    const g = await startGateway({ queueLength });
    // Its own connection, as a real remote subscriber has (streams of one HTTP/2 connection share
    // its flow-control window).
    const slowClient = new ResultHubClient(g.client.getChannel().getTarget(), grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const paused = subscribe(slowClient);
    paused.call.pause();
    const fast = subscribe(g.client);
    await until(() => g.hub.subscriberCount === 2, 'two subscribers');
    const big = (seq: number): Result => {
      const r = exampleResult(K.RESULT_KIND_SEGMENTATION, { frameSequence: seq });
      r.segmentation!.instances[0].points = Array.from({ length: 2000 }, (_, i) => i * 3 - seq);
      return r;
    };
    const total = 1000;
    for (let batch = 0; batch < total / 100; batch++) {
      await publish(g.client, Array.from({ length: 100 }, (_, i) => big(batch * 100 + i + 1)));
      await until(() => fast.results.length === (batch + 1) * 100, 'the fast subscriber to keep up');
    }
    expect(fast.results.map((r) => r.frameSequence)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const drops = g.hub.stats().subscriberDrops;
    // What the paused subscriber did not drop is in the transport's buffers or its queue: bounded.
    expect(drops).toBeGreaterThan(total - queueLength - 500);
    expect(paused.results.length).toBeLessThan(total - drops + 1);
    paused.call.resume();
    await until(() => paused.results.length > 0 && paused.results[paused.results.length - 1].frameSequence === total, 'the newest result');
    expect(paused.results.length).toBeLessThan(total);
    slowClient.close();
  });

  it('keeps the results a subscriber does not read in the hub queue, not in the transport', async () => {
    const g = await startGateway();
    // A SubscribeResults call over bare HTTP/2 whose response is never read: only HTTP/2's
    // flow-control window (64 KiB) takes anything off the server (a grpc-js client would buffer 16
    // messages of its own while paused).
    const session = http2.connect(`http://${g.client.getChannel().getTarget().replace(/^dns:/, '')}`);
    session.on('error', () => undefined);
    const stream = session.request({ ':method': 'POST', ':path': '/framewire.v1.ResultHub/SubscribeResults', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => undefined);
    stream.pause();
    stream.end(Buffer.from([0, 0, 0, 0, 0])); // an empty SubscribeResultsRequest: everything
    try {
      await until(() => g.hub.subscriberCount === 1, 'the subscriber');
      // Results of about 0.5 MB: grpc-js's own buffer (16 messages) would take 8.6 MB off the hub's queue.
      const large = (seq: number): Result => {
        const r = exampleResult(K.RESULT_KIND_SEGMENTATION, { frameSequence: seq });
        const points = Array.from({ length: 180_000 }, (_, i) => (i * 7 + seq) % 60);
        r.segmentation!.instances = [0, 1, 2].map((instanceId) => ({ classId: 1, instanceId, confidence: 0.5, points }));
        return r;
      };
      const count = 20;
      for (let seq = 1; seq <= count; seq++) await publish(g.client, [large(seq)]);
      await new Promise((r) => setTimeout(r, 500));
      const size = g.hub.latest('cam-1', K.RESULT_KIND_SEGMENTATION)!.retainedBytes;
      const outOfQueue = count * size - g.hub.stats().queuedBytes;
      // The transport window: SUBSCRIBER_TRANSPORT_WINDOW_BYTES, here one result and the next.
      expect(outOfQueue).toBeLessThanOrEqual(Math.max(SUBSCRIBER_TRANSPORT_WINDOW_BYTES, size) + size);
      expect(g.hub.stats().subscriberDrops).toBe(0);
    } finally {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      session.destroy();
    }
    await until(() => g.hub.subscriberCount === 0, 'the call to end');
  });

  it('ends a call with a malformed result with INVALID_ARGUMENT naming the field and index, keeping what came before', async () => {
    const g = await startGateway();
    const sub = subscribe(g.client, { streamId: 'cam-1' });
    const other = subscribe(g.client, { streamId: 'cam-2' });
    await until(() => g.hub.subscriberCount === 2, 'subscribers');
    const good = results('cam-1', 'w1', 3, [K.RESULT_KIND_SEGMENTATION]);
    const bad = exampleResult(K.RESULT_KIND_SEGMENTATION, { streamId: 'cam-1', workerId: 'w1', frameSequence: 4 });
    bad.segmentation!.instances[1].points = [1, 2, 3];
    const otherResults = results('cam-2', 'w2', 5, [K.RESULT_KIND_TRACKS]);
    const [error, response] = await Promise.all([grpcError(publish(g.client, [...good, bad, ...good])), publish(g.client, otherResults)]);
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toContain('result 3 of this call');
    expect(error.details).toContain('result.segmentation.instances[1].points: odd length 3');
    expect(response.resultsReceived).toBe(5);
    await until(() => sub.results.length === 3 && other.results.length === 5, 'delivered results');
    expect(sub.results).toStrictEqual(good.map(asReceived));
    await g.recorder.flush();
    expect(await replay(g.client, { streamId: 'cam-1' })).toStrictEqual(good.map(asReceived));
    expect(await replay(g.client, { streamId: 'cam-2' })).toStrictEqual(otherResults.map(asReceived));
    // Bytes that are not a PublishResultsRequest at all: typed too.
    const raw = await grpcError(
      new Promise((resolve, reject) => {
        const call = g.client.makeClientStreamRequest('/framewire.v1.ResultHub/PublishResults', (b: Buffer) => b, (b: Buffer) => b, new grpc.Metadata(), (err, r) => (err ? reject(err) : resolve(r)));
        call.write(Buffer.from([0x0a, 0x7f, 0x01]));
        call.end();
      }),
    );
    expect(raw.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(raw.details).toContain('result 0 of this call');
  });

  it('refuses bad filters and replay requests with INVALID_ARGUMENT', async () => {
    const g = await startGateway();
    const badFilter = await new Promise<grpc.ServiceError>((resolve) => {
      const call = g.client.subscribeResults({ streamId: '../x', workerId: '', kinds: [] });
      call.on('data', () => undefined);
      call.on('error', resolve);
    });
    expect(badFilter.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(badFilter.details).toContain('stream_id');
    const noStream = await grpcError(replay(g.client, {}));
    expect(noStream.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noStream.details).toContain('stream_id');
    const badRange = await grpcError(replay(g.client, { streamId: 'cam-1', fromTimeUs: 10, toTimeUs: 5 }));
    expect(badRange.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(badRange.details).toContain('from_time_us');
  });

  it('replays every kind identically, by sequence range and by time range, across rotated segments', async () => {
    const g = await startGateway({ maxSegmentBytes: 700 });
    const w1 = results('cam-1', 'w1', 40);
    const w2 = results('cam-1', 'w2', 40, [K.RESULT_KIND_KEYPOINTS, K.RESULT_KIND_TRACKS]);
    await Promise.all([publish(g.client, w1), publish(g.client, w2)]);
    await g.recorder.flush();
    const recorded = [...w1, ...w2].sort(replayOrder).map(asReceived);
    const bins = (await readdir(g.directory, { recursive: true })).filter((f) => f.endsWith('.bin'));
    expect(bins.filter((f) => f.includes('keypoints-')).length).toBeGreaterThan(4);

    expect(await replay(g.client, { streamId: 'cam-1' })).toStrictEqual(recorded);
    expect(await replay(g.client, { streamId: 'cam-1', fromSequence: 10, toSequence: 12 })).toStrictEqual(
      recorded.filter((r) => r.frameSequence >= 10 && r.frameSequence <= 12),
    );
    const from = exampleResult(K.RESULT_KIND_TRACKS, { frameSequence: 30 }).captureTimeUs;
    const to = exampleResult(K.RESULT_KIND_TRACKS, { frameSequence: 35 }).captureTimeUs;
    expect(await replay(g.client, { streamId: 'cam-1', fromTimeUs: from, toTimeUs: to, kinds: [K.RESULT_KIND_KEYPOINTS] })).toStrictEqual(
      recorded.filter((r) => r.captureTimeUs >= from && r.captureTimeUs <= to && r.keypoints),
    );
  });

  it('replays at about the recorded pace', async () => {
    const g = await startGateway();
    const paced = [1, 2, 3, 4, 5].map((seq) => exampleResult(K.RESULT_KIND_DETECTIONS, { frameSequence: seq, captureTimeUs: 1e15 + seq * 50_000 }));
    await publish(g.client, paced);
    await g.recorder.flush();
    const started = performance.now();
    expect(await replay(g.client, { streamId: 'cam-1', recordedPace: true })).toStrictEqual(paced.map(asReceived));
    expect(performance.now() - started).toBeGreaterThanOrEqual(4 * 50 * 0.9);
  });

  it('serves at most maxReplays Replay calls at once, RESOURCE_EXHAUSTED beyond, and takes a new one when one ends', async () => {
    const g = await startGateway({ maxReplays: 3 });
    // A minute between the two results: a replay at the recorded pace stays open after the first.
    const spaced = [1, 2].map((seq) => exampleResult(K.RESULT_KIND_DETECTIONS, { frameSequence: seq, captureTimeUs: 1e15 + seq * 60_000_000 }));
    await publish(g.client, spaced);
    await g.recorder.flush();
    const open = [0, 1, 2].map(() => subscribeReplay(g.client));
    await until(() => open.every((r) => r.results.length === 1), 'the first result of each replay');
    const refused = await grpcError(replay(g.client, { streamId: 'cam-1', recordedPace: true }));
    expect({ code: refused.code, details: refused.details }).toEqual({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'the gateway serves at most 3 Replay calls at once' });
    // The server frees the slot once it sees the cancellation; until then a new call is refused.
    open[0].call.cancel();
    let next = subscribeReplay(g.client);
    await until(() => {
      if (next.error?.code === grpc.status.RESOURCE_EXHAUSTED) next = subscribeReplay(g.client);
      return next.results.length === 1;
    }, 'a replay once another ended');
    for (const r of [...open, next]) r.call.cancel();
  });

  it('replays the results before a torn tail in the last segment', async () => {
    const g = await startGateway();
    const all = results('cam-1', 'w1', 8, [K.RESULT_KIND_KEYPOINTS, K.RESULT_KIND_DETECTIONS]);
    await publish(g.client, all);
    await g.recorder.close();
    for (const file of await readdir(g.directory, { recursive: true })) {
      if (!file.endsWith('.bin')) continue;
      const path = join(g.directory, file);
      await truncate(path, (await stat(path)).size - 2);
    }
    expect(await replay(g.client, { streamId: 'cam-1' })).toStrictEqual(all.filter((r) => r.frameSequence < 8).map(asReceived));
  });
});
