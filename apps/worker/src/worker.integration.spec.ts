// The worker as a real process between a real supplier + synthetic capture and a stand-in gateway:
// its results carry the right envelope and its detections match the synthetic scene; a worker of
// two cameras with different motion (a pool of one) keeps each camera's detections and tracks on
// that camera's objects.
import * as grpc from '@grpc/grpc-js';
import { frameNumberAt, sceneAt } from '@framewire/capture';
import { PublishResultsRequest, PublishResultsResponse, Result, ResultHubService } from '@framewire/proto';
import { ServiceProcess, startServiceProcess, stopServiceProcess, supplierStats } from '@framewire/testing';

const FPS = 15;
const WIDTH = 640;
const HEIGHT = 480;
const SEED = 1;
const STREAM = 'cam-worker-it';
const WORKER = 'worker-it';
const TOKEN = 'integration-token-0123456789';
/** Same bound as the analysis library's scene tests: a detection's centre within 6 px of the object's. */
const CENTRE_TOLERANCE_PX = 6;
/** The motion analyzer's median background needs objects present at start-up to move away (about
 *  2.5 s at worst, libs/analysis scene tests) and tracks need a few hits: frames captured within
 *  this of the first analysed one are not checked. */
const WARM_UP_US = 4_000_000;
const FRAMES_CHECKED = 20;

/** A ResultHub stand-in that records what PublishResults receives and the calls' authorization. */
class ResultSink {
  readonly results: Result[] = [];
  readonly authorizations: string[] = [];
  readonly server = new grpc.Server();
  port = 0;

  constructor() {
    this.server.addService(ResultHubService, {
      publishResults: (call: grpc.ServerReadableStream<PublishResultsRequest, PublishResultsResponse>, callback: grpc.sendUnaryData<PublishResultsResponse>) => {
        this.authorizations.push(String(call.metadata.get('authorization')[0]));
        let received = 0;
        call.on('data', (r: PublishResultsRequest) => {
          if (r.result) {
            received++;
            this.results.push(r.result);
          }
        });
        call.on('end', () => callback(null, { resultsReceived: received }));
        call.on('error', () => undefined);
      },
      subscribeResults: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
      replay: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
    });
  }

  async start(): Promise<void> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
  }
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const centre = (b: { x: number; y: number; width: number; height: number }) => ({ x: b.x + b.width / 2, y: b.y + b.height / 2 });

describe('worker process', () => {
  jest.setTimeout(60_000);
  const sink = new ResultSink();
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    await sink.start();
    const supplier = await startServiceProcess('supplier', { FW_AUTH_TOKEN: TOKEN });
    services.push(supplier);
    const supplierAddress = `127.0.0.1:${supplier.port}`;
    services.push(
      await startServiceProcess('capture', {
        FW_AUTH_TOKEN: TOKEN,
        FW_SUPPLIER_ADDRESS: supplierAddress,
        FW_GATEWAY_ADDRESS: `127.0.0.1:${sink.port}`,
        FW_STREAM_ID: STREAM,
        FW_CAPTURE_SOURCE: 'synthetic',
        FW_CAPTURE_FPS: String(FPS),
        FW_CAPTURE_WIDTH: String(WIDTH),
        FW_CAPTURE_HEIGHT: String(HEIGHT),
        FW_CAPTURE_SEED: String(SEED),
        FW_CAPTURE_SHM_RING: `fw-worker-it-${process.pid}`,
      }),
    );
    services.push(
      await startServiceProcess('worker', {
        FW_AUTH_TOKEN: TOKEN,
        FW_WORKER_ID: WORKER,
        FW_STREAM_ID: STREAM,
        FW_SUPPLIER_ADDRESS: supplierAddress,
        FW_GATEWAY_ADDRESS: `127.0.0.1:${sink.port}`,
      }),
    );
  });

  afterAll(async () => {
    for (const s of services.reverse()) await stopServiceProcess(s, 'SIGTERM', 8_000);
    sink.server.forceShutdown();
  });

  it('publishes results stamped with stream, frame, capture time, worker and times, with the token', async () => {
    await until(() => new Set(sink.results.map((r) => r.frameSequence)).size >= 5, 30_000, 'results of 5 frames');
    expect(sink.authorizations[0]).toBe(`Bearer ${TOKEN}`);
    const kinds = new Set(sink.results.map((r) => ['segmentation', 'detections', 'tracks', 'keypoints'].find((k) => r[k as keyof Result] !== undefined)));
    expect([...kinds].sort()).toEqual(['detections', 'keypoints', 'segmentation', 'tracks']);
    for (const r of sink.results.slice(0, 40)) {
      expect(r.streamId).toBe(STREAM);
      expect(r.workerId).toBe(WORKER);
      expect(r.frameSequence).toBeGreaterThan(0);
      // The synthetic source stamps frame n with exactly n / fps seconds since the epoch.
      expect(Math.round((frameNumberAt(r.captureTimeUs, FPS) * 1e6) / FPS)).toBe(r.captureTimeUs);
      expect(r.processingUs).toBeGreaterThan(0);
      expect(Number.isInteger(r.processingUs)).toBe(true);
      expect(r.publishedTimeUs).toBeGreaterThanOrEqual(r.captureTimeUs + r.processingUs);
    }
    // All results of one frame share its envelope.
    const first = sink.results.filter((r) => r.frameSequence === sink.results[0].frameSequence);
    expect(new Set(first.map((r) => `${r.captureTimeUs}/${r.processingUs}/${r.publishedTimeUs}`)).size).toBe(1);
  });

  it(`detects every object of the synthetic scene within ${CENTRE_TOLERANCE_PX} px of its centre`, async () => {
    const startUs = sink.results[0].captureTimeUs;
    const detections = () => sink.results.filter((r) => r.detections !== undefined && r.captureTimeUs >= startUs + WARM_UP_US);
    await until(() => detections().length >= FRAMES_CHECKED, 40_000, `detections of ${FRAMES_CHECKED} frames after the warm-up`);
    const misses: string[] = [];
    for (const r of detections().slice(0, FRAMES_CHECKED)) {
      const n = frameNumberAt(r.captureTimeUs, FPS);
      for (const o of sceneAt(n, { width: WIDTH, height: HEIGHT, fps: FPS, seed: SEED }).objects) {
        const want = centre(o.box);
        const found = r.detections!.detections.some((d) => d.box && Math.hypot(centre(d.box).x - want.x, centre(d.box).y - want.y) <= CENTRE_TOLERANCE_PX);  
        if (!found) misses.push(`frame ${n} (seq ${r.frameSequence}) object ${o.id} at (${want.x}, ${want.y}): ${JSON.stringify(r.detections!.detections.map((d) => d.box))}`);  
      }
    }
    expect(misses).toEqual([]);
  });
});

describe('worker process serving two cameras', () => {
  jest.setTimeout(90_000);
  const sink = new ResultSink();
  const services: ServiceProcess[] = [];
  const CAMERAS = { 'cam-pool-a': 1, 'cam-pool-b': 2 } as Record<string, number>;
  const POOL_WORKER = 'worker-two-cams';
  let supplierAddress: string;

  beforeAll(async () => {
    await sink.start();
    const supplier = await startServiceProcess('supplier');
    services.push(supplier);
    supplierAddress = `127.0.0.1:${supplier.port}`;
    for (const [stream, seed] of Object.entries(CAMERAS)) {
      services.push(
        await startServiceProcess('capture', {
          FW_SUPPLIER_ADDRESS: supplierAddress,
          FW_GATEWAY_ADDRESS: `127.0.0.1:${sink.port}`,
          FW_STREAM_ID: stream,
          FW_SERVICE_ID: `capture-${stream}`,
          FW_CAPTURE_SOURCE: 'synthetic',
          FW_CAPTURE_FPS: String(FPS),
          FW_CAPTURE_WIDTH: String(WIDTH),
          FW_CAPTURE_HEIGHT: String(HEIGHT),
          FW_CAPTURE_SEED: String(seed),
        }),
      );
    }
    services.push(
      await startServiceProcess('worker', {
        FW_WORKER_ID: POOL_WORKER,
        FW_WORKER_STREAMS: Object.keys(CAMERAS).join(','),
        FW_SUPPLIER_ADDRESS: supplierAddress,
        FW_GATEWAY_ADDRESS: `127.0.0.1:${sink.port}`,
      }),
    );
  });

  afterAll(async () => {
    for (const s of services.reverse()) await stopServiceProcess(s, 'SIGTERM', 8_000);
    sink.server.forceShutdown();
  });

  it('joins a pool of one named after itself, owning both streams', async () => {
    await until(() => sink.results.length > 0, 30_000, 'a first result');
    const pool = (await supplierStats(supplierAddress)).pools.find((p) => p.poolId === POOL_WORKER);
    expect(pool).toMatchObject({ mode: 'sticky', members: [{ workerId: POOL_WORKER, streamIds: Object.keys(CAMERAS), ownedStreams: 2 }] });
  });

  it(`keeps each camera's detections and tracks on that camera's own objects (within ${CENTRE_TOLERANCE_PX} px)`, async () => {
    // Per camera: results captured after its warm-up (from its first analysed frame on).
    const firstUs = new Map<string, number>();
    const checked = (kind: 'detections' | 'tracks', stream: string) =>
      sink.results.filter((r) => {
        if (r.streamId !== stream) return false;
        if (!firstUs.has(stream)) firstUs.set(stream, r.captureTimeUs);
        return r[kind] !== undefined && r.captureTimeUs >= (firstUs.get(stream) as number) + WARM_UP_US;
      });
    const streams = Object.keys(CAMERAS);
    await until(() => streams.every((s) => checked('tracks', s).length >= FRAMES_CHECKED), 60_000, `${FRAMES_CHECKED} tracks results of each camera after the warm-up`);
    const misses: string[] = [];
    for (const stream of streams) {
      const scene = (r: Result) => sceneAt(frameNumberAt(r.captureTimeUs, FPS), { width: WIDTH, height: HEIGHT, fps: FPS, seed: CAMERAS[stream] });
      for (const r of checked('detections', stream).slice(0, FRAMES_CHECKED)) {
        for (const d of r.detections!.detections) {
          const near = scene(r).objects.some((o) => Math.hypot(centre(d.box!).x - centre(o.box).x, centre(d.box!).y - centre(o.box).y) <= CENTRE_TOLERANCE_PX);
          if (!near) misses.push(`${stream} seq ${r.frameSequence}: detection at ${JSON.stringify(d.box)} is none of its objects`);
        }
      }
      for (const r of checked('tracks', stream).slice(0, FRAMES_CHECKED)) {
        const objects = scene(r).objects;
        if (r.tracks!.tracks.length !== objects.length) misses.push(`${stream} seq ${r.frameSequence}: ${r.tracks!.tracks.length} tracks for ${objects.length} objects`);
        for (const t of r.tracks!.tracks) {
          const near = objects.some((o) => Math.hypot(centre(t.box!).x - centre(o.box).x, centre(t.box!).y - centre(o.box).y) <= CENTRE_TOLERANCE_PX);
          if (!near) misses.push(`${stream} seq ${r.frameSequence}: track ${t.trackId} at ${JSON.stringify(t.box)} is none of its objects`);
        }
      }
    }
    expect(misses).toEqual([]);
  });
});
