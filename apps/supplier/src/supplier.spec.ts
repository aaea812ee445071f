// The supplier as a real process, driven over real gRPC: latest-frame delivery to fast and slow
// workers, Subscribe and Pull, errors with their status codes (undecodable requests too), worker ids
// held by one instance, waiting on a stream without publisher, /metrics. Assertions are on sequences,
// counts and orders, never on milliseconds or rates: frame ages are measured by the frame-path
// benchmark (`npm run bench -- frame-path`).
import * as grpc from '@grpc/grpc-js';
import {
  Delivery,
  Frame,
  FrameSupplierClient,
  PublishRequest,
  PublishResponse,
  PullRequest,
  PullResponse,
  SubscriptionRefusal,
  SupplierStats, SubscribeRequest } from '@framewire/proto';
import { rawHttpExchange, ServiceProcess, startServiceProcess, stopServiceProcess, waitFor } from '@framewire/testing';

const MAX_FRAME_BYTES = 1024 * 1024;
const FRAME_INTERVAL_MS = 20;
const SLOW_WORKER_MS = 200;
/** How long a test waits for frames that must come (a bound on a hang, not a speed). */
const ARRIVAL_TIMEOUT_MS = 10_000;

let supplier: ServiceProcess;
const clients: FrameSupplierClient[] = [];

function newClient(): FrameSupplierClient {
  const client = new FrameSupplierClient(`127.0.0.1:${supplier.port}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 4 * MAX_FRAME_BYTES,
    'grpc.max_send_message_length': 4 * MAX_FRAME_BYTES,
  });
  clients.push(client);
  return client;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function frame(streamId: string, sequence: number, bytes = 1024): Frame {
  return { streamId, sequence, captureTimeUs: Date.now() * 1000, width: 32, height: 32, pixelFormat: 1, sizeBytes: bytes, data: Buffer.alloc(bytes) };
}

interface RunningPublisher {
  call: grpc.ClientWritableStream<PublishRequest>;
  result: Promise<PublishResponse>;
  /** Sequence of the last frame written. */
  sequence(): number;
  stop(): Promise<PublishResponse>;
}

/** A Publish call that writes a frame of `streamId` every `intervalMs`. */
function startPublisher(client: FrameSupplierClient, streamId: string, intervalMs = FRAME_INTERVAL_MS, bytes = 1024): RunningPublisher {
  let sequence = 0;
  let call!: grpc.ClientWritableStream<PublishRequest>;
  const result = new Promise<PublishResponse>((res, rej) => {
    call = client.publish((err, r) => (err ? rej(err) : res(r as PublishResponse)));
  });
  result.catch(() => undefined);
  const timer = setInterval(() => call.write({ frame: frame(streamId, ++sequence, bytes) }), intervalMs);
  return {
    call,
    result,
    sequence: () => sequence,
    stop: () => {
      clearInterval(timer);
      call.end();
      return result;
    },
  };
}

interface Received {
  delivery: Delivery;
  /** For a worker that works (workMs > 0): the supplier's last sequence of the stream, read by
   *  GetStats just before the worker granted the credit this delivery answers. */
  newestWhenAsked: number;
  /** The newest sequence published when this delivery arrived. */
  newestAtReceipt: number;
  /** Credits the worker had granted and not yet seen answered, this delivery included. */
  creditsOutstanding: number;
}

/** A Pull worker that takes `workMs` per frame and then asks for the next (one credit at a time).
 *  `newest` is the publisher's last sequence, for how far behind a delivery is when it arrives. */
function startPullWorker(client: FrameSupplierClient, workerId: string, streamId: string, workMs: number, newest: () => number, instanceId = '') {
  const received: Received[] = [];
  const call = client.pull();
  let newestWhenAsked = 0;
  // What the supplier holds, not what this process has written: a 64 KiB frame still on its way may
  // be overtaken by the credit.
  const supplierNewest = async () => (await getStats(client)).streams.find((s) => s.streamId === streamId)?.lastSequence ?? 0;
  let credits = 1;
  const ended = new Promise<grpc.StatusObject | grpc.ServiceError>((res) => {
    call.on('error', res);
    call.on('status', res);
  });
  call.on('data', (r: PullResponse) => {
    received.push({ delivery: r.delivery as Delivery, newestWhenAsked, newestAtReceipt: newest(), creditsOutstanding: credits-- });
    setTimeout(async () => {
      if (workMs > 0) newestWhenAsked = await supplierNewest().catch(() => Number.NaN);
      credits++;
      call.write({ credits: 1 });
    }, workMs);
  });
  call.write({ subscribe: SubscribeRequest.fromPartial({ workerId, streamId, preferSharedMemory: false, shmRingTokens: [], instanceId }) });
  call.write({ credits: 1 });
  return { call, received, ended };
}

function getStats(client: FrameSupplierClient): Promise<SupplierStats> {
  return new Promise((res, rej) => client.getStats({}, (err, r) => (err ? rej(err) : res(r?.stats as SupplierStats))));
}

const sequences = (deliveries: readonly Delivery[]): number[] => deliveries.map((d) => d.frame!.sequence);

/** Every frame between two deliveries that the worker did not get is counted in the later one. */
function expectDropsAccounted(deliveries: readonly Delivery[]): void {
  const gaps = deliveries.slice(1).map((d, i) => ({ sequence: d.frame!.sequence, droppedSinceLast: d.frame!.sequence - deliveries[i].frame!.sequence - 1 }));
  expect(deliveries.slice(1).map((d) => ({ sequence: d.frame!.sequence, droppedSinceLast: d.droppedSinceLast }))).toEqual(gaps);
}

const increasing = (values: readonly number[]) => values.every((v, i) => i === 0 || v > values[i - 1]);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? NaN;
}

beforeAll(async () => {
  supplier = await startServiceProcess(
    'supplier',
    { FW_SUPPLIER_MAX_FRAME_BYTES: String(MAX_FRAME_BYTES), FW_SUPPLIER_MAX_STREAMS: '8', FW_SUPPLIER_MAX_WORKERS: '16' },
    { listeners: ['gRPC', 'metrics'] },
  );
});

afterAll(async () => {
  for (const c of clients) c.close();
  if (supplier) expect((await stopServiceProcess(supplier)).code).toBe(0);
});

describe('supplier service', () => {
  it('gives a fast Pull worker every frame and a slow one the newest frame when it asks, counting its drops', async () => {
    const client = newClient();
    const publisher = startPublisher(client, 'cam-pull');
    const fast = startPullWorker(client, 'fast-1', 'cam-pull', 0, publisher.sequence);
    const slow = startPullWorker(client, 'slow-1', 'cam-pull', SLOW_WORKER_MS, publisher.sequence);
    await waitFor('the slow worker to take 5 frames', () => slow.received.length >= 5, ARRIVAL_TIMEOUT_MS);
    const live = (await getStats(client)).streams.find((s) => s.streamId === 'cam-pull');
    const response = await publisher.stop();
    const published = publisher.sequence();
    // Both end with the last frame: the fast one at once, the slow one when it next asks.
    const last = (w: typeof fast) => w.received.at(-1)?.delivery.frame!.sequence;
    await waitFor('both workers to get the last frame', () => last(fast) === published && last(slow) === published, ARRIVAL_TIMEOUT_MS);
    const stats = await getStats(client);
    fast.call.cancel();
    slow.call.cancel();

    expect(response.framesReceived).toBe(published);
    expect(response.inboxDrops).toBe(0);
    expect(live).toMatchObject({ subscribers: 2, inboxDrops: 0 });
    expect(live?.publishRateFps).toBeGreaterThan(0);
    for (const worker of [fast, slow]) {
      const deliveries = worker.received.map((r) => r.delivery);
      // In order, never a frame twice, never more frames than credits, every missed frame counted.
      expect(increasing(sequences(deliveries))).toBe(true);
      expect(worker.received.filter((r) => r.creditsOutstanding < 1)).toEqual([]);
      expectDropsAccounted(deliveries);
    }
    // The slow worker: each frame the newest there was when it asked, however busy the machine.
    for (const r of slow.received.slice(1)) expect(r.delivery.frame!.sequence).toBeGreaterThanOrEqual(r.newestWhenAsked);
    // It takes one frame per 200 ms of work while frames come every 20 ms (timers of this one
    // process, so a stalled machine slows both alike): it misses frames, the fast worker gets more.
    expect(fast.received.length).toBeGreaterThan(slow.received.length);
    const worker = (id: string) => stats.workers.find((w) => w.workerId === id);
    const reportedDrops = (w: typeof fast) => w.received.reduce((sum, r) => sum + r.delivery.droppedSinceLast, 0);
    expect(reportedDrops(slow)).toBeGreaterThan(0);
    // GetStats agrees with what the workers saw.
    for (const [id, w] of [['fast-1', fast], ['slow-1', slow]] as const) {
      expect(worker(id)).toMatchObject({ framesDelivered: w.received.length, dropsTotal: reportedDrops(w), lastSequence: published });
    }
  });

  it('delivers frames to a Subscribe (server streaming) worker', async () => {
    const client = newClient();
    const call = client.subscribe(SubscribeRequest.fromPartial({ workerId: 'sub-1', streamId: 'cam-sub', preferSharedMemory: false, shmRingTokens: [], instanceId: '' }));
    const deliveries: Delivery[] = [];
    call.on('data', (r) => deliveries.push(r.delivery));
    call.on('error', () => undefined);
    await waitFor('the subscription to be listed', async () => (await getStats(client)).workers.some((w) => w.workerId === 'sub-1'), ARRIVAL_TIMEOUT_MS);
    const publisher = startPublisher(client, 'cam-sub');
    await waitFor('15 frames', () => publisher.sequence() >= 15, ARRIVAL_TIMEOUT_MS);
    await publisher.stop();
    await waitFor('the last frame', () => deliveries.at(-1)?.frame?.sequence === publisher.sequence(), ARRIVAL_TIMEOUT_MS);
    call.cancel();
    expect(increasing(sequences(deliveries))).toBe(true);
    expectDropsAccounted(deliveries);
    expect(deliveries[0].sentTimeUs).toBeGreaterThan(0);
    expect(deliveries[0].frame?.data?.length).toBe(1024);
  });

  it('gives a slow Pull worker a newer frame than a slow Subscribe worker, whose frames wait in transport buffers', async () => {
    const client = newClient();
    const bytes = 64 * 1024;
    const publisher = startPublisher(client, 'cam-age', FRAME_INTERVAL_MS, bytes);
    const pull = startPullWorker(client, 'age-pull', 'cam-age', SLOW_WORKER_MS / 2, publisher.sequence);
    // Frames behind the newest published when a delivery arrives, counted in sequences.
    const subscribeLags: number[] = [];
    const sub = client.subscribe(SubscribeRequest.fromPartial({ workerId: 'age-sub', streamId: 'cam-age', preferSharedMemory: false, shmRingTokens: [], instanceId: '' }));
    sub.on('error', () => undefined);
    sub.on('data', (r) => {
      subscribeLags.push(publisher.sequence() - r.delivery.frame.sequence);
      sub.pause();
      setTimeout(() => sub.resume(), SLOW_WORKER_MS / 2);
    });
    // Long enough for Subscribe's buffers to fill: 100 frames of 64 KiB at the publisher's pace.
    await waitFor('100 frames published', () => publisher.sequence() >= 100, 4 * ARRIVAL_TIMEOUT_MS);
    await publisher.stop();
    sub.cancel();
    pull.call.cancel();
    const pullLags = pull.received.map((r) => r.newestAtReceipt - r.delivery.frame!.sequence);
    const lateSubscribe = median(subscribeLags.slice(-10));
    const latePull = median(pullLags.slice(-10));
    process.stdout.write(`frames behind the newest at receipt, slow worker (100 ms/frame, 64 KiB frames): Subscribe median ${lateSubscribe}, Pull median ${latePull}\n`);
    // Pull: the newest frame when the worker asks, whatever the load.
    for (const r of pull.received.slice(1)) expect(r.delivery.frame!.sequence).toBeGreaterThanOrEqual(r.newestWhenAsked);
    // Subscribe: frames taken from buffers filled while the worker was busy, several behind. The
    // ages in milliseconds are the frame-path benchmark's (docs/benchmarks.md, "Freshness").
    expect(lateSubscribe).toBeGreaterThan(latePull + 2);
  });

  it('rejects bad frames with INVALID_ARGUMENT or RESOURCE_EXHAUSTED naming the field, while others carry on', async () => {
    const client = newClient();
    const good = startPublisher(client, 'cam-good');
    const worker = startPullWorker(client, 'good-worker', 'cam-good', 0, good.sequence);
    await sleep(100);

    const bad = async (frames: Frame[]) => {
      let call!: grpc.ClientWritableStream<PublishRequest>;
      const result = new Promise<grpc.ServiceError>((res, rej) => {
        call = client.publish((err) => (err ? res(err) : rej(new Error('expected an error'))));
      });
      for (const f of frames) call.write({ frame: f });
      call.end();
      return result;
    };
    const empty = await bad([frame('', 1)]);
    expect(empty.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(empty.details).toBe('frame.stream_id is empty');
    const zero = await bad([frame('cam-bad', 0)]);
    expect(zero.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(zero.details).toContain('frame.sequence');
    const mismatch = await bad([{ ...frame('cam-bad', 1, 10), sizeBytes: 12 }]);
    expect(mismatch.details).toBe('frame.size_bytes is 12 but frame.data holds 10 bytes');
    const tooBig = await bad([frame('cam-bad', 1, MAX_FRAME_BYTES + 1)]);
    expect(tooBig.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(tooBig.details).toContain(`exceeds the ${MAX_FRAME_BYTES}-byte limit`);
    const streams = await bad(Array.from({ length: 9 }, (_, i) => frame(`cam-many-${i}`, 1)));
    expect(streams.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(streams.details).toContain('limit of 8 streams');

    const badWorker = await new Promise<grpc.ServiceError>((res) => {
      const call = client.subscribe(SubscribeRequest.fromPartial({ workerId: 'bad worker', streamId: 'cam-good', preferSharedMemory: false, shmRingTokens: [], instanceId: '' }));
      call.on('error', res);
      call.on('data', () => undefined);
    });
    expect(badWorker.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(badWorker.details).toContain('worker_id');
    const noSubscribe = await new Promise<grpc.ServiceError>((res) => {
      const call = client.pull();
      call.on('error', res);
      call.on('data', () => undefined);
      call.write({ credits: 1 } as PullRequest);
    });
    expect(noSubscribe.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noSubscribe.details).toBe('first Pull request must carry subscribe');

    const before = worker.received.length;
    await waitFor('the good worker to keep receiving', () => worker.received.length > before + 5, ARRIVAL_TIMEOUT_MS);
    await good.stop();
    worker.call.cancel();
  });

  it('ends the older call with ABORTED naming the worker when the same worker instance subscribes again', async () => {
    const client = newClient();
    const publisher = startPublisher(client, 'cam-dup');
    const first = startPullWorker(client, 'dup-worker', 'cam-dup', 0, publisher.sequence, 'instance-key-1');
    await waitFor('the first call to receive a frame', () => first.received.length > 0, ARRIVAL_TIMEOUT_MS);
    const second = startPullWorker(client, 'dup-worker', 'cam-dup', 0, publisher.sequence, 'instance-key-1');
    const ended = (await first.ended) as grpc.ServiceError;
    expect(ended.code).toBe(grpc.status.ABORTED);
    expect(ended.details).toContain('"dup-worker"');
    await waitFor('the second call to receive frames', () => second.received.length > 3, ARRIVAL_TIMEOUT_MS);
    const stats = await getStats(client);
    expect(stats.workers.filter((w) => w.workerId === 'dup-worker')).toHaveLength(1);
    await publisher.stop();
    second.call.cancel();
  });

  it('refuses another instance of a live worker id with ALREADY_EXISTS, counting the refusal in GetStats and /metrics', async () => {
    const client = newClient();
    const publisher = startPublisher(client, 'cam-held');
    const holder = startPullWorker(client, 'held-worker', 'cam-held', 0, publisher.sequence, 'the-real-one');
    await waitFor('the holder call to receive a frame', () => holder.received.length > 0, ARRIVAL_TIMEOUT_MS);
    for (const instanceId of ['a-stranger', '']) {
      const stranger = startPullWorker(client, 'held-worker', 'cam-held', 0, publisher.sequence, instanceId);
      const refused = (await stranger.ended) as grpc.ServiceError;
      expect(refused.code).toBe(grpc.status.ALREADY_EXISTS);
      expect(refused.details).toBe('worker_id "held-worker" is held by another live instance (another instance_id); it can be taken once its holder has been silent for 10000 ms');
      expect(stranger.received).toEqual([]);
    }
    const before = holder.received.length;
    await waitFor('the holder to keep receiving', () => holder.received.length > before + 3, ARRIVAL_TIMEOUT_MS);
    const stats = await getStats(client);
    expect(stats.refused.filter((r) => r.workerId === 'held-worker')).toEqual([
      {
        workerId: 'held-worker',
        reason: SubscriptionRefusal.SUBSCRIPTION_REFUSAL_ID_IN_USE,
        count: 2,
        lastRefusedTimeUs: expect.any(Number),
        streamId: 'cam-held',
        caller: '127.0.0.1',
        message: expect.stringContaining('"held-worker" is held by another live instance'),
      },
    ]);
    const text = await (await fetch(`http://127.0.0.1:${supplier.ports.metrics}/metrics`)).text();
    expect(text).toContain('framewire_supplier_subscriptions_refused_total{worker="held-worker",reason="id-in-use"} 2');
    expect(text).toMatch(/framewire_supplier_subscription_last_refused_timestamp_seconds\{worker="held-worker",reason="id-in-use"\} 1\d{9}/);
    await publisher.stop();
    holder.call.cancel();
  });

  it('answers an undecodable Publish or Pull request with INVALID_ARGUMENT naming its index in the call', async () => {
    const client = newClient();
    const raw = (bytes: Buffer): Buffer => bytes;
    // Field 1 (frame / subscribe), length 127, but only 2 bytes follow.
    const malformed = Buffer.from([0x0a, 0x7f, 0x01, 0x02]);
    const published = await new Promise<grpc.ServiceError>((resolve, reject) => {
      const call = client.makeClientStreamRequest('/framewire.v1.FrameSupplier/Publish', raw, raw, new grpc.Metadata(), (err) =>
        err ? resolve(err) : reject(new Error('expected an error')),
      );
      call.write(Buffer.from(PublishRequest.encode({ frame: frame('cam-undecodable', 1) }).finish()));
      call.write(malformed);
      call.end();
    });
    expect(published.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(published.details).toMatch(/^request 1 of this call is not a valid framewire\.v1\.PublishRequest: malformed protobuf in 4 bytes \(.+\)$/);

    const pulled = await new Promise<grpc.ServiceError>((resolve) => {
      const call = client.makeBidiStreamRequest('/framewire.v1.FrameSupplier/Pull', raw, raw, new grpc.Metadata());
      call.on('error', resolve);
      call.on('data', () => undefined);
      call.write(malformed);
    });
    expect(pulled.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(pulled.details).toMatch(/^request 0 of this call is not a valid framewire\.v1\.PullRequest: malformed protobuf in 4 bytes/);
  });

  it('lets a worker wait on a stream that has no publisher yet, listing the stream inactive, and delivers once one comes', async () => {
    const client = newClient();
    const waiting = startPullWorker(client, 'early-worker', 'cam-not-yet', 0, () => 0);
    await sleep(200);
    expect(waiting.received).toEqual([]);
    const stats = await getStats(client);
    expect(stats.streams.find((s) => s.streamId === 'cam-not-yet')).toMatchObject({ publishers: 0, active: false, subscribers: 1, framesPublished: 0 });
    const publisher = startPublisher(client, 'cam-not-yet');
    await waitFor('a first frame for the waiting worker', () => waiting.received.length > 0, ARRIVAL_TIMEOUT_MS);
    expect((await getStats(client)).streams.find((s) => s.streamId === 'cam-not-yet')).toMatchObject({ publishers: 1, active: true });
    await publisher.stop();
    waiting.call.cancel();
  });

  it('serves Prometheus metrics with the supplier counters', async () => {
    const client = newClient();
    const publisher = startPublisher(client, 'cam-metrics');
    const worker = startPullWorker(client, 'metrics-worker', 'cam-metrics', 0, publisher.sequence);
    await waitFor('a delivery', () => worker.received.length > 0, ARRIVAL_TIMEOUT_MS);
    const res = await fetch(`http://127.0.0.1:${supplier.ports.metrics}/metrics`);
    const text = await res.text();
    await publisher.stop();
    worker.call.cancel();
    expect(res.status).toBe(200);
    expect(text).toMatch(/framewire_supplier_frames_published_total\{stream="cam-metrics"\} \d+/);
    expect(text).toContain('framewire_supplier_inbox_drops_total{stream="cam-metrics"} 0');
    expect(text).toMatch(/framewire_supplier_worker_frames_delivered_total\{worker="metrics-worker",stream="cam-metrics"\} [1-9]/);
    expect(text).toContain('framewire_supplier_worker_drops_total{worker="metrics-worker"');
    expect(text).toContain('framewire_supplier_worker_idle{worker="metrics-worker",stream="cam-metrics"} 0');
    expect(text).toContain('framewire_supplier_worker_last_delivery_age_seconds{worker="metrics-worker"');
    expect((await fetch(`http://127.0.0.1:${supplier.ports.metrics}/other`)).status).toBe(404);
  });

  it.each([
    ['another path', 'GET /other HTTP/1.1\r\nHost: x\r\n\r\n', 404, 'path'],
    ['another method', 'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', 405, 'method'],
    ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 400, 'request'],
    ['a request head of 20,000 bytes', `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers'],
    ['a target that is not a URL', 'GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'url'],
  ])('answers %s on the metrics port with JSON naming the problem', async (_what, request, status, field) => {
    const answer = await rawHttpExchange(supplier.ports.metrics, request, { waitMs: 5_000 });
    expect({ status: answer.status, type: answer.headers['content-type'], field: answer.body.field, error: typeof answer.body.error }).toEqual({
      status,
      type: 'application/json; charset=utf-8',
      field,
      error: 'string',
    });
  });
});

describe('supplier service with a token (FW_AUTH_TOKEN)', () => {
  const TOKEN = 'supplier-spec-token-0123456789';
  let guarded: ServiceProcess;
  let client: FrameSupplierClient;

  beforeAll(async () => {
    guarded = await startServiceProcess('supplier', { FW_AUTH_TOKEN: TOKEN }, { listeners: ['gRPC', 'metrics'] });
    client = new FrameSupplierClient(`127.0.0.1:${guarded.port}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    if (guarded) expect((await stopServiceProcess(guarded)).code).toBe(0);
  });

  const bearer = (value: string | undefined) => {
    const m = new grpc.Metadata();
    if (value !== undefined) m.set('authorization', value);
    return m;
  };
  const deadline = () => ({ deadline: Date.now() + 5_000 });

  /** Publishes `count` frames of `streamId` with `metadata` and resolves to how the call ended. */
  function publishWith(metadata: grpc.Metadata, streamId: string, count: number): Promise<grpc.ServiceError | PublishResponse> {
    return new Promise((resolve) => {
      const call = client.publish(metadata, deadline(), (err, r) => resolve(err ?? (r as PublishResponse)));
      call.on('error', () => undefined);
      for (let i = 1; i <= count; i++) call.write({ frame: frame(streamId, i) });
      call.end();
    });
  }

  /** The status a server-streaming or duplex call ends with. */
  function endOf(call: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<PullRequest, PullResponse>): Promise<grpc.StatusObject> {
    return new Promise((resolve) => {
      call.on('data', () => undefined);
      call.on('error', (e: grpc.ServiceError) => resolve(e));
      call.on('status', resolve);
    });
  }

  it('refuses Publish, Subscribe, Pull and ListRings without the right token, naming the problem; GetStats stays open', async () => {
    const unauthenticated = (details: RegExp) => expect.objectContaining({ code: grpc.status.UNAUTHENTICATED, details: expect.stringMatching(details) });
    expect(await publishWith(bearer(undefined), 'cam-guarded', 3)).toEqual(unauthenticated(/missing bearer token/));
    expect(await publishWith(bearer('Bearer not-the-token-0123456789'), 'cam-guarded', 3)).toEqual(unauthenticated(/wrong bearer token/));
    const request = SubscribeRequest.fromPartial({ workerId: 'intruder', streamId: 'cam-guarded', preferSharedMemory: false, shmRingTokens: [], instanceId: '' });
    expect(await endOf(client.subscribe(request, bearer(undefined), deadline()))).toEqual(unauthenticated(/missing bearer token/));
    const pull = client.pull(bearer(`Token ${TOKEN}`), deadline());
    pull.write({ subscribe: request });
    pull.write({ credits: 1 });
    expect(await endOf(pull)).toEqual(unauthenticated(/malformed authorization/));
    const rings = await new Promise<grpc.ServiceError | null>((resolve) => client.listRings({ streamId: 'cam-guarded' }, bearer(undefined), deadline(), (err) => resolve(err)));
    expect(rings).toEqual(unauthenticated(/missing bearer token/));
    // Nothing of the refused calls reached the supplier: no stream, no worker.
    const stats = await getStats(client);
    expect(stats.streams.map((s) => s.streamId)).not.toContain('cam-guarded');
    expect(stats.workers.map((w) => w.workerId)).not.toContain('intruder');
  });

  it('serves a publisher and a Pull worker that send the token', async () => {
    const authorized = bearer(`Bearer ${TOKEN}`);
    const worker = client.pull(authorized);
    const received: number[] = [];
    worker.on('data', (r: PullResponse) => {
      received.push(r.delivery!.frame!.sequence);
      worker.write({ credits: 1 });
    });
    worker.on('error', () => undefined);
    worker.write({ subscribe: SubscribeRequest.fromPartial({ workerId: 'trusted', streamId: 'cam-trusted', preferSharedMemory: false, shmRingTokens: [], instanceId: '' }) });
    worker.write({ credits: 1 });
    await waitFor('the worker to be listed', async () => (await getStats(client)).workers.some((w) => w.workerId === 'trusted'), ARRIVAL_TIMEOUT_MS);
    let call!: grpc.ClientWritableStream<PublishRequest>;
    const published = new Promise<number>((resolve, reject) => {
      call = client.publish(authorized, (err, r) => (err ? reject(err) : resolve((r as PublishResponse).framesReceived)));
    });
    for (let i = 1; i <= 20; i++) {
      call.write({ frame: frame('cam-trusted', i) });
      await sleep(FRAME_INTERVAL_MS);
    }
    call.end();
    expect(await published).toBe(20);
    await waitFor('the last frame at the worker', () => received.at(-1) === 20, ARRIVAL_TIMEOUT_MS);
    worker.cancel();
    expect(increasing(received)).toBe(true);
  });
});
