// Hostile load on the gateway's result queues: one publisher sends results at the validation limits
// (2 to 4 MB each: segmentation of 1,000,000 points, 10,000 labelled detections, a 4 MiB stage)
// while a SubscribeResults client and a /ws client never read.
// Every queue where those results can wait (subscriber queues, the transports, the recorder, the
// latest results) is bounded in bytes, so the gateway's memory stays far below what the unbounded
// queues reached (RSS 4 GiB and "JavaScript heap out of memory" within 20 s), and the gateway
// still answers and serves a fresh subscriber afterwards.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { PublishResultsRequest, Result, ResultHubClient, ResultHubService, ResultKind } from '@framewire/proto';
import { StageEncoder } from '@framewire/overlay-codecs';
import {
  DEFAULT_MAX_DETECTIONS,
  DEFAULT_MAX_INSTANCES,
  DEFAULT_MAX_POINTS_PER_INSTANCE,
  DEFAULT_MAX_POINTS_PER_RESULT,
  exampleResult,
  MAX_LABEL_LENGTH,
} from '@framewire/results';
import {
  http,
  peakResidentMiB,
  publishResults,
  residentMiB,
  ServiceProcess,
  StalledSubscribeResults,
  stalledSubscribeResults,
  StalledWebSocket,
  stalledWebSocket,
  startServiceProcess,
  stopServiceProcess,
  subscribeResults,
  waitFor,
  watchResultsWebSocket,
} from '@framewire/testing';

/** Traffic sent by the hostile publisher. */
const BYTES_TO_SEND = 1.5 * 2 ** 30;
/** Far below the 4 GiB the unbounded queues reached, far above the bounded figure (docs/reliability.md). */
const RSS_BOUND_MIB = 1024;
const SAMPLE_MS = 200;
const STREAM = 'cam-flood';
/** grpc-js's default receive limit, the gateway's: the largest message a publisher can send. */
const GRPC_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Room for the Result envelope and the stage message's own header around its JPEG bytes. */
const ENVELOPE_ROOM_BYTES = 4096;

/** A segmentation result at the limits: DEFAULT_MAX_POINTS_PER_RESULT vertices in full instances. */
function largestSegmentation(frameSequence: number): Result {
  const instances = [];
  const perInstance = DEFAULT_MAX_POINTS_PER_INSTANCE;
  for (let i = 0; i * perInstance < DEFAULT_MAX_POINTS_PER_RESULT && i < DEFAULT_MAX_INSTANCES; i++) {
    const points = new Array<number>(perInstance * 2);
    for (let j = 0; j < points.length; j++) points[j] = (j * 7 + frameSequence + i) % 60;
    instances.push({ classId: 1, instanceId: i, confidence: 0.5, points });
  }
  return { ...exampleResult(ResultKind.RESULT_KIND_SEGMENTATION, { streamId: STREAM, frameSequence }), segmentation: { width: 1920, height: 1080, instances } };
}

function largestDetections(frameSequence: number): Result {
  const detections = Array.from({ length: DEFAULT_MAX_DETECTIONS }, (_, i) => ({
    box: { x: i % 1920, y: i % 1080, width: 10, height: 20 },
    score: 0.5,
    classId: i % 80,
    label: String.fromCharCode(97 + (i % 26)).repeat(MAX_LABEL_LENGTH),
  }));
  return { ...exampleResult(ResultKind.RESULT_KIND_DETECTIONS, { streamId: STREAM, frameSequence }), detections: { detections } };
}

/** A stage message as large as a gRPC message allows: one JPEG patch (its bytes are not decoded). */
function largestStage(frameSequence: number): Result {
  const encoder = new StageEncoder();
  encoder.beginFrame(frameSequence);
  encoder.layer(0).drawJpeg(Buffer.alloc(GRPC_MAX_MESSAGE_BYTES - ENVELOPE_ROOM_BYTES, frameSequence), 0, 0, 1920, 1080);
  return { ...exampleResult(ResultKind.RESULT_KIND_STAGE, { streamId: STREAM, frameSequence }), stage: Buffer.from(encoder.finishFrame()) };
}

/** PublishResults with pre-encoded requests: the test's two cores go to the gateway, not to encoding. */
const RawPublishClient = grpc.makeGenericClientConstructor(
  { publishResults: { ...ResultHubService.publishResults, requestSerialize: (bytes: Buffer) => bytes } },
  'framewire.v1.ResultHub',
);

/** Writes `requests` in turn, following flow control, until `total` bytes were written or `stop(sent)` says so. */
async function publishUntil(address: string, requests: Buffer[], total: number, stop: (sent: number) => boolean): Promise<number> {
  const client = new RawPublishClient(address, grpc.credentials.createInsecure());
  let sent = 0;
  try {
    const outcome = new Promise<void>((resolve, reject) => {
      const call = client.publishResults((error: grpc.ServiceError | null) => (error ? reject(error) : resolve()));
      void (async () => {
        for (let i = 0; sent < total && !stop(sent); i++) {
          const request = requests[i % requests.length];
          sent += request.length;
          if (!call.write(request)) await new Promise((drained) => call.once('drain', drained));
        }
        call.end();
      })();
    });
    await outcome;
  } finally {
    client.close();
  }
  return sent;
}

describe('gateway memory under results at the validation limits with subscribers that never read', () => {
  jest.setTimeout(300_000);
  const dir = mkdtempSync(join(tmpdir(), 'fw-gateway-memory-'));
  let gateway: ServiceProcess;

  beforeAll(async () => {
    gateway = await startServiceProcess(
      'gateway',
      // Archive on: the recorder's pending writes are one of the bounded queues.
      { FW_ARCHIVE_DIR: join(dir, 'archive'), FW_CAPTURE_ADDRESSES: '127.0.0.1:1', FW_SUPPLIER_ADDRESS: '127.0.0.1:1' },
      { listeners: ['gRPC', 'HTTP'] },
    );
  }, 60_000);

  afterAll(async () => {
    if (gateway) await stopServiceProcess(gateway, 'SIGTERM', 20_000);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('keeps RSS bounded, answers /api/health and serves a fresh subscriber afterwards', async () => {
    const address = `127.0.0.1:${gateway.port}`;
    const httpUrl = `http://127.0.0.1:${gateway.ports.HTTP}`;
    const pid = gateway.child.pid as number;
    // Mostly the cheap kinds to decode, so that the traffic is sent in a bounded time on two loaded cores.
    const results = [largestSegmentation(1), largestDetections(2), ...[3, 4, 5, 6, 7, 8].map(largestStage)];
    const requests = results.map((result) => Buffer.from(PublishResultsRequest.encode({ result }).finish()));
    for (const request of requests) expect(request.length).toBeGreaterThan(2_000_000);

    // The SubscribeResults client that never reads: paused before anything arrives.
    const stuckClient = new ResultHubClient(address, grpc.credentials.createInsecure());
    const stuckCall = stuckClient.subscribeResults({ streamId: '', workerId: '', kinds: [] });
    stuckCall.pause();
    stuckCall.on('error', () => undefined);
    // The /ws client that never reads: its socket is paused, so the kernel buffers fill.
    const stuckSocket = new WebSocket(`ws://127.0.0.1:${gateway.ports.HTTP}/ws`);
    await new Promise((resolve, reject) => stuckSocket.once('open', resolve).once('error', reject));
    (stuckSocket as unknown as { _socket: { pause(): void } })._socket.pause();

    const startRssMiB = residentMiB(pid);
    let maxRssMiB = startRssMiB;
    const sampler = setInterval(() => {
      try {
        maxRssMiB = Math.max(maxRssMiB, residentMiB(pid));
      } catch {
        // The process is gone: the publisher sees the failure.
      }
    }, SAMPLE_MS);
    let sent = 0;
    try {
      // Stop early once the bound is broken: the unfixed gateway would take the machine's memory.
      sent = await publishUntil(address, requests, BYTES_TO_SEND, () => maxRssMiB > RSS_BOUND_MIB);
    } finally {
      clearInterval(sampler);
    }
    const peakMiB = peakResidentMiB(pid);
    console.log(`gateway-memory: sent ${(sent / 2 ** 20).toFixed(0)} MiB; RSS ${startRssMiB.toFixed(0)} MiB before, max sampled ${maxRssMiB.toFixed(0)} MiB, peak (VmHWM) ${peakMiB.toFixed(0)} MiB`);
    expect(peakMiB).toBeLessThan(RSS_BOUND_MIB);
    expect(sent).toBeGreaterThanOrEqual(BYTES_TO_SEND);

    // The stuck subscribers lost results, and the loss is counted.
    const stats = (await http(`${httpUrl}/api/stats`)).body;
    expect(stats.results.subscriberDrops).toBeGreaterThan(0);

    // Still answering, and a fresh subscriber gets a result published now.
    const health = await http(`${httpUrl}/api/health`);
    expect([200, 503]).toContain(health.status);
    expect(Array.isArray(health.body.checks)).toBe(true);
    const fresh = subscribeResults(address, { streamId: 'cam-after' });
    const freshSocket = watchResultsWebSocket(httpUrl, '?stream=cam-after');
    try {
      await freshSocket.opened;
      const after = exampleResult(ResultKind.RESULT_KIND_TRACKS, { streamId: 'cam-after', frameSequence: 7 });
      await waitFor(
        'the fresh subscribers to get a new result',
        async () => {
          await publishResults(address, [after]);
          return fresh.results.length > 0 && freshSocket.results.length > 0;
        },
        20_000,
        500,
      );
      expect(fresh.results[0].frameSequence).toBe(7);
      expect(freshSocket.results[0].frameSequence).toBe(7);
    } finally {
      fresh.close();
      freshSocket.close();
      stuckCall.cancel();
      stuckClient.close();
      stuckSocket.terminate();
    }
  });
});

/** Stalled connections of each kind (gRPC SubscribeResults, /ws): far more than the budget of the
 *  hub's queues holds one result each (docs/reliability.md), and with the two slow readers within
 *  the 256 subscriptions that SubscribeResults admits. */
const STALLED_PER_KIND = 120;
/** The hub's budget for results waiting for subscribers, in their queues and their transports. */
const STALL_TEST_BUDGET_BYTES = 16 * 2 ** 20;
const STALL_TEST_LATEST_BYTES = 4 * 2 ** 20;
const STALL_TEST_BYTES_TO_SEND = 1024 * 2 ** 20;
/** A stalled subscriber of each kind arrives every this many bytes sent (all have arrived at 3/4). */
const STALL_TEST_ARRIVAL_BYTES = (STALL_TEST_BYTES_TO_SEND * 3) / 4 / STALLED_PER_KIND;
/** Far below what the gateway without transport accounting reaches with this traffic, far above
 *  the bounded figure (docs/reliability.md). */
const STALL_RSS_BOUND_MIB = 400;
/** The slow readers read for this long, then pause for the rest of each period. */
const SLOW_READ_MS = 100;
const SLOW_READ_PERIOD_MS = 1_000;
/** The flood is cut into this many parts (by bytes sent): each slow reader must receive results in
 *  every part, which a reader starved for a stretch of the flood cannot. */
const FLOOD_PARTS = 4;
/** The slow /ws reader decodes only results smaller than this (the one published after the flood). */
const SMALL_RESULT_BYTES = 64 * 1024;
/** grpc-js's RST_STREAM code for "enhance your calm", which clients report as RESOURCE_EXHAUSTED. */
const NGHTTP2_ENHANCE_YOUR_CALM = 11;

describe('gateway memory with many subscribers that stop reading', () => {
  jest.setTimeout(300_000);
  let gateway: ServiceProcess;

  beforeAll(async () => {
    gateway = await startServiceProcess(
      'gateway',
      {
        FW_ARCHIVE: 'off',
        FW_RESULTS_QUEUE_BYTES: String(STALL_TEST_BUDGET_BYTES),
        FW_RESULTS_LATEST_BYTES: String(STALL_TEST_LATEST_BYTES),
        FW_CAPTURE_ADDRESSES: '127.0.0.1:1',
        FW_SUPPLIER_ADDRESS: '127.0.0.1:1',
      },
      { listeners: ['gRPC', 'HTTP'] },
    );
  }, 60_000);

  afterAll(async () => {
    if (gateway) await stopServiceProcess(gateway, 'SIGTERM', 20_000);
  }, 60_000);

  it('disconnects stalled subscribers with the reason, keeps RSS bounded and slow readers served', async () => {
    const address = `127.0.0.1:${gateway.port}`;
    const httpUrl = `http://127.0.0.1:${gateway.ports.HTTP}`;
    const pid = gateway.child.pid as number;
    const results = [largestSegmentation(1), largestDetections(2), ...[3, 4, 5, 6, 7, 8].map(largestStage)];
    const requests = results.map((result) => Buffer.from(PublishResultsRequest.encode({ result }).finish()));
    // Two readers that read slowly: a tenth of each second. The /ws one counts what it receives and
    // decodes only small results (decoding hundreds of results at the limits would take the cores).
    const slowSocket = new WebSocket(`ws://127.0.0.1:${gateway.ports.HTTP}/ws`);
    let slowSocketResults = 0;
    const slowSocketSequences: number[] = [];
    slowSocket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      slowSocketResults++;
      if (data.length < SMALL_RESULT_BYTES) slowSocketSequences.push(Result.decode(data).frameSequence);
    });
    await new Promise((resolve, reject) => slowSocket.once('open', resolve).once('error', reject));
    const slowSocketRaw = (slowSocket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    const slowClient = new ResultHubClient(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const slowCall = slowClient.subscribeResults({ streamId: '', workerId: '', kinds: [] });
    let slowCallResults = 0;
    let slowCallError: grpc.ServiceError | undefined;
    slowCall.on('data', () => slowCallResults++);
    slowCall.on('error', (error: grpc.ServiceError) => (slowCallError = error));
    const slowReading = setInterval(() => {
      slowSocketRaw.resume();
      slowCall.resume();
      setTimeout(() => {
        slowSocketRaw.pause();
        slowCall.pause();
      }, SLOW_READ_MS);
    }, SLOW_READ_PERIOD_MS);
    await waitFor('the slow readers to be counted', async () => (await http(`${httpUrl}/api/stats`)).body.results.subscribers === 2, 30_000, 200);
    // They are watching when the flood begins: each has read a result. (A client that connects during
    // the flood waits for its first result behind the newcomers before it: the hub's unit tests.)
    await publishResults(address, [exampleResult(ResultKind.RESULT_KIND_TRACKS, { streamId: 'cam-before', frameSequence: 1 })]);
    await waitFor('the slow readers to read a first result', () => slowSocketSequences.includes(1) && slowCallResults === 1, 30_000, 100);
    // The stalled subscribers arrive while results flow, one of each kind every STALL_TEST_ARRIVAL_BYTES
    // sent, so that each stops at a different result (as clients that freeze at different times do).
    const stalledCalls: StalledSubscribeResults[] = [];
    const stalledSockets: StalledWebSocket[] = [];
    const admitStalled = (sent: number): void => {
      while (stalledCalls.length < STALLED_PER_KIND && sent >= stalledCalls.length * STALL_TEST_ARRIVAL_BYTES) {
        stalledCalls.push(stalledSubscribeResults(address));
        stalledSockets.push(stalledWebSocket(`ws://127.0.0.1:${gateway.ports.HTTP}/ws`));
      }
    };

    // What the slow readers had received when each part of the flood began, and at its end.
    const receivedAt: Array<{ socket: number; call: number }> = [];
    const noteReceived = (sentSoFar: number): void => {
      while (receivedAt.length < FLOOD_PARTS && sentSoFar >= (receivedAt.length * STALL_TEST_BYTES_TO_SEND) / FLOOD_PARTS) {
        receivedAt.push({ socket: slowSocketResults, call: slowCallResults });
      }
    };

    const startRssMiB = residentMiB(pid);
    let maxRssMiB = startRssMiB;
    const sampler = setInterval(() => {
      try {
        maxRssMiB = Math.max(maxRssMiB, residentMiB(pid));
      } catch {
        // The process is gone: the publisher sees the failure.
      }
    }, SAMPLE_MS);
    let sent = 0;
    try {
      // Stop early once far past the bound: the unfixed gateway would take the machine's memory.
      sent = await publishUntil(address, requests, STALL_TEST_BYTES_TO_SEND, (sentSoFar) => {
        admitStalled(sentSoFar);
        noteReceived(sentSoFar);
        return maxRssMiB > STALL_RSS_BOUND_MIB * 2;
      });
    } finally {
      clearInterval(sampler);
    }
    receivedAt.push({ socket: slowSocketResults, call: slowCallResults });
    const perPart = (reader: 'socket' | 'call'): number[] => receivedAt.slice(1).map((r, i) => r[reader] - receivedAt[i][reader]);
    const peakMiB = peakResidentMiB(pid);
    const stats = (await http(`${httpUrl}/api/stats`)).body;
    console.log(
      `gateway-stall: ${STALLED_PER_KIND} + ${STALLED_PER_KIND} stalled; sent ${(sent / 2 ** 20).toFixed(0)} MiB; RSS ${startRssMiB.toFixed(0)} MiB before, ` +
        `max sampled ${maxRssMiB.toFixed(0)} MiB, peak (VmHWM) ${peakMiB.toFixed(0)} MiB; stall disconnections ${JSON.stringify(stats.results.stallDisconnects)}; ` +
        `slow readers got ${slowSocketResults} (/ws) and ${slowCallResults} (gRPC) during the flood, per quarter ${JSON.stringify(perPart('socket'))} and ${JSON.stringify(perPart('call'))}`,
    );
    try {
      expect(peakMiB).toBeLessThan(STALL_RSS_BOUND_MIB);
      expect(sent).toBeGreaterThanOrEqual(STALL_TEST_BYTES_TO_SEND);
      // Stalled subscribers were disconnected, counted, and a gRPC one learnt RESOURCE_EXHAUSTED.
      expect(stats.results.stallDisconnects).toBeGreaterThan(0);
      const ends = await Promise.all(stalledCalls.map((c) => Promise.race([c.ended, new Promise<undefined>((r) => setTimeout(() => r(undefined), 0))])));
      const exhausted = ends.filter((e) => e !== undefined && (e.rstCode === NGHTTP2_ENHANCE_YOUR_CALM || e.grpcStatus === grpc.status.RESOURCE_EXHAUSTED));
      expect(exhausted.length).toBeGreaterThan(0);
      expect(gateway.output.some((line) => /read nothing for [\d.]+ s while holding \d+ bytes/.test(line))).toBe(true);
      // The slow readers were never disconnected, received results in every part of the flood
      // (losing their oldest, never all), and still get the newest result.
      expect(slowCallError).toBeUndefined();
      expect(slowSocket.readyState).toBe(WebSocket.OPEN);
      expect(perPart('socket')).toHaveLength(FLOOD_PARTS);
      expect(Math.min(...perPart('socket'))).toBeGreaterThan(0);
      expect(Math.min(...perPart('call'))).toBeGreaterThan(0);
      const callsBefore = slowCallResults;
      await publishResults(address, [exampleResult(ResultKind.RESULT_KIND_TRACKS, { streamId: 'cam-after', frameSequence: 9 })]);
      await waitFor('the slow readers to get the newest result', () => slowSocketSequences.includes(9) && slowCallResults > callsBefore, 60_000, 200);
      const health = await http(`${httpUrl}/api/health`);
      expect([200, 503]).toContain(health.status);
    } finally {
      clearInterval(slowReading);
      for (const c of stalledCalls) c.close();
      for (const s of stalledSockets) s.close();
      slowSocket.terminate();
      slowCall.cancel();
      slowClient.close();
    }
  });
});
