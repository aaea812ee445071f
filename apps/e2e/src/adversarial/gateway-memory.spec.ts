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
import { StageEncoder } from '@framewire/protocol';
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

/** Writes `requests` in turn, following flow control, until `total` bytes were written or `stop()` says so. */
async function publishUntil(address: string, requests: Buffer[], total: number, stop: () => boolean): Promise<number> {
  const client = new RawPublishClient(address, grpc.credentials.createInsecure());
  let sent = 0;
  try {
    const outcome = new Promise<void>((resolve, reject) => {
      const call = client.publishResults((error: grpc.ServiceError | null) => (error ? reject(error) : resolve()));
      void (async () => {
        for (let i = 0; sent < total && !stop(); i++) {
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
