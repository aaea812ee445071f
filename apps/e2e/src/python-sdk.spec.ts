// The Python SDK (clients/python) against the real services: installed into a temporary venv with
// Debian's python3 (offline, with Debian's grpcio and protobuf), then a Worker with a callback
// (support/sdk_worker.py) in a process of its own: its results reach the gateway, it reconnects when
// the supplier restarts, its result queue stays bounded (oldest dropped, newest kept and delivered)
// while the gateway is away, two of them divide a stream as a pool, it acknowledges commands, and it
// works over TLS; plus the queue's byte bound, the shared-memory reader and the docs' worked example.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { tokenMetadata } from '@framewire/grpc-client';
import { AckStatus, FrameSupplierClient, Result, ResultHubClient } from '@framewire/proto';
import { secretText } from '@framewire/service-runtime';
import { FrameRingWriter } from '@framewire/shm';
import { REPO_ROOT, subscribeResults, supplierStats, testFrame, waitFor } from '@framewire/testing';
import { Pipeline, startPipeline } from './support/pipeline';
import { installPythonSdk, pythonSdkProblem } from './support/python-sdk';

const TOKEN = 'python-sdk-e2e-token-0123';
const STREAM = 'cam-sdk';
const DRIVER = join(__dirname, 'support/sdk_worker.py');
/** How long a test waits for what must happen (a bound on a hang, not a speed). */
const WAIT_MS = 20_000;
/** The result queue's bound in the gateway-away test, and the frames analysed while the gateway is away. */
const QUEUE_BOUND = 5;
const FRAMES_WHILE_AWAY = 20;
/** Pace of the test's own publisher in the pool test (frames keep coming until both members are done). */
const PUBLISH_INTERVAL_MS = 20;

// Skipped with the reason on a machine without the packages; never under CI, which installs them (.ci/run).
const problem = process.env.CI ? undefined : pythonSdkProblem();
if (problem) process.stderr.write(`skipped: the Python SDK tests: ${problem}\n`);
const describeWithPython = problem ? describe.skip : describe;

interface Ended {
  code: number | null;
  stats: Record<string, Record<string, number>>;
}

/** A running sdk_worker.py: its JSON lines as they come, and its exit. */
interface PythonWorker {
  lines: Record<string, unknown>[];
  stderr: () => string;
  analyzed: (streamId?: string) => number[];
  /** SIGTERM (unless it has exited), then its exit code and last line (the stats). */
  stop: () => Promise<Ended>;
  /** Its exit code and last line, once it exits by itself. */
  ended: () => Promise<Ended>;
  child: ChildProcess;
}

function startPythonWorker(python: string, options: Record<string, unknown>): PythonWorker {
  const child = spawn(python, [DRIVER, JSON.stringify({ token: TOKEN, backoff_max_s: 0.5, ...options })], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let pending = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (pending + chunk.toString()).split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) if (line.startsWith('{')) lines.push(JSON.parse(line));
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const ended = async () => ({ code: await exited, stats: lines[lines.length - 1] as Ended['stats'] });
  return {
    lines,
    child,
    stderr: () => stderr,
    analyzed: (streamId) => lines.filter((l) => 'analyzed' in l && (!streamId || l.stream_id === streamId)).map((l) => l.analyzed as number),
    ended,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return ended();
    },
  };
}

/** A Publish call of the test's own frames, with the token. */
function openPublisher(supplierAddress: string): { publish(streamId: string, sequence: number): void; end(): void } {
  const client = new FrameSupplierClient(supplierAddress, grpc.credentials.createInsecure());
  const call = client.publish(tokenMetadata(secretText(TOKEN)), () => undefined);
  call.on('error', () => undefined);
  return {
    publish: (streamId, sequence) => void call.write({ frame: testFrame(streamId, sequence) }),
    end: () => {
      call.end();
      client.close();
    },
  };
}

/** The archived results of `streamId` by `workerId` in [from, to], through the gateway's Replay. */
function replay(gatewayAddress: string, streamId: string, workerId: string, from: number, to: number): Promise<Result[]> {
  const client = new ResultHubClient(gatewayAddress, grpc.credentials.createInsecure());
  const results: Result[] = [];
  return new Promise<Result[]>((resolve, reject) => {
    const call = client.replay({ streamId, kinds: [], fromSequence: from, toSequence: to, fromTimeUs: 0, toTimeUs: 0, recordedPace: false }, tokenMetadata(secretText(TOKEN)), {
      deadline: Date.now() + WAIT_MS,
    });
    call.on('data', (r: { result?: Result }) => r.result?.workerId === workerId && results.push(r.result));
    call.on('error', reject);
    call.on('end', () => resolve(results));
  }).finally(() => client.close());
}

describeWithPython('Python SDK (clients/python)', () => {
  jest.setTimeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'fw-python-sdk-'));
  let python: string;
  let pipeline: Pipeline;
  let addresses: { supplier: string; gateway: string };
  const running: PythonWorker[] = [];
  const worker = (options: Record<string, unknown>) => {
    const w = startPythonWorker(python, { ...addresses, ...options });
    running.push(w);
    return w;
  };

  beforeAll(async () => {
    python = installPythonSdk(dir);
    pipeline = await startPipeline({ streamId: STREAM, fps: 15, width: 320, height: 240, archiveDir: join(dir, 'archive'), token: TOKEN, workers: [] });
    addresses = { supplier: pipeline.supplierAddress, gateway: pipeline.gatewayAddress };
  });

  afterEach(async () => {
    for (const w of running.splice(0)) await w.stop();
  });

  afterAll(async () => {
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs offline into a venv and imports from it, with the stubs of every proto file', () => {
    const script = [
      'import json, framewire',
      'from framewire.v1 import commands_pb2, frame_pb2, gateway_pb2_grpc, results_pb2, stats_pb2, supplier_pb2_grpc, viewer_pb2',
      'print(json.dumps({"file": framewire.__file__, "result": results_pb2.Result(stream_id="cam-1").stream_id}))',
    ].join('\n');
    const printed = JSON.parse(execFileSync(python, ['-c', script], { cwd: dir, encoding: 'utf8' }));
    expect(printed).toEqual({ file: expect.stringMatching(new RegExp(`^${join(dir, 'venv')}/lib/python3\\.\\d+/site-packages/framewire/__init__\\.py$`)), result: 'cam-1' });
  });

  it('reads a shared-memory ring the TypeScript writer wrote, with framewire.shm.FrameRing', () => {
    const writer = FrameRingWriter.create({ name: `fw-test-pysdk-${process.pid}`, slotCount: 2, slotBytes: 4096 });
    try {
      const data = Buffer.from('frame bytes from TypeScript');
      const ref = writer.write({ streamId: 'cam-shm', sequence: 42, captureTimeUs: 1_700_000_000_000_042, width: 8, height: 6, pixelFormat: 1 }, data);
      const script = [
        'import json, sys, zlib',
        'from framewire.shm import FrameRing',
        'ring = FrameRing(sys.argv[1])',
        'meta, ref, data = ring.read_slot(ring.latest_slot())',
        'ring.close()',
        'print(json.dumps({"meta": meta, "slot": ref["slot"], "text": data.decode(), "crc_ok": zlib.crc32(data) == ref["crc32"]}))',
      ].join('\n');
      expect(JSON.parse(execFileSync(python, ['-c', script, ref.ringName], { cwd: dir, encoding: 'utf8' }))).toEqual({
        meta: { streamId: 'cam-shm', sequence: 42, captureTimeUs: 1_700_000_000_000_042, width: 8, height: 6, pixelFormat: 1 },
        slot: ref.slot,
        text: 'frame bytes from TypeScript',
        crc_ok: true,
      });
    } finally {
      writer.close();
    }
  });

  it('bounds the result queue in bytes as well as in count, dropping the oldest', () => {
    // A gateway address where nothing listens: every result stays queued.
    const script = [
      'import json, framewire',
      'from framewire.v1 import results_pb2',
      'channel = framewire.open_channel("127.0.0.1:1")',
      'publisher = framewire.ResultPublisher(channel, max_queued=100, max_queued_bytes=10_000)',
      'for seq in range(1, 11):',
      '    publisher.publish(results_pb2.Result(stream_id="s", frame_sequence=seq, stage=bytes(3_000)))',
      'queued = [r.result.frame_sequence for r, _ in publisher._queue]',
      'stats = publisher.close(0.1)',
      'print(json.dumps({"queued": queued, "dropped_oldest": stats.dropped_oldest, "dropped_at_stop": stats.dropped_at_stop}))',
    ].join('\n');
    expect(JSON.parse(execFileSync(python, ['-c', script], { cwd: dir, encoding: 'utf8' }))).toEqual({ queued: [8, 9, 10], dropped_oldest: 7, dropped_at_stop: 3 });
  });

  it('runs a callback as a worker: each result reaches a SubscribeResults subscriber in its envelope', async () => {
    const subscriber = subscribeResults(pipeline.gatewayAddress, { workerId: 'py-sdk-1' }, tokenMetadata(secretText(TOKEN)));
    try {
      await new Promise((r) => setTimeout(r, 300)); // the subscription is open before results flow
      const w = worker({ worker_id: 'py-sdk-1', stream: STREAM, max_frames: 10 });
      const { code, stats } = await w.ended();
      expect({ code, stderr: w.stderr() }).toEqual({ code: 0, stderr: '' });
      expect(stats.stats).toMatchObject({ frames: 10, results: 10, reconnects: 0 });
      expect(stats.publisher).toMatchObject({ sent: 10, delivered: 10, dropped_oldest: 0, dropped_at_stop: 0 });
      await waitFor('the 10 results at the subscriber', () => subscriber.results.length >= 10, WAIT_MS);
      expect(subscriber.results.map((r) => r.frameSequence)).toEqual(w.analyzed());
      for (const r of subscriber.results) {
        expect(r).toMatchObject({ streamId: STREAM, workerId: 'py-sdk-1' });
        expect(r.captureTimeUs).toBeGreaterThan(0);
        expect(r.publishedTimeUs).toBeGreaterThanOrEqual(r.captureTimeUs);
        expect(r.detections?.detections).toEqual([{ box: { x: 0, y: 0, width: 320, height: 240 }, score: 0.5, classId: 7, label: `seq ${r.frameSequence}` }]);
      }
    } finally {
      subscriber.close();
    }
  });
  it('reconnects when the supplier process is stopped and started on its port, and goes on publishing', async () => {
    const subscriber = subscribeResults(pipeline.gatewayAddress, { workerId: 'py-sdk-re' }, tokenMetadata(secretText(TOKEN)));
    try {
      const w = worker({ worker_id: 'py-sdk-re', stream: STREAM });
      await waitFor('frames before the restart', () => w.analyzed().length >= 3, WAIT_MS);
      await pipeline.stopService('supplier');
      const before = w.analyzed().length;
      await pipeline.restartService('supplier');
      await waitFor('frames after the restart', () => w.analyzed().length >= before + 5, WAIT_MS);
      const after = w.analyzed().slice(before);
      await waitFor('the results of frames after the restart at the gateway', () => after.every((seq) => subscriber.results.some((r) => r.frameSequence === seq)), WAIT_MS);
      // The same process and Worker, reconnected: the supplier lists it under its worker id.
      const listed = (await supplierStats(pipeline.supplierAddress)).workers.map((s) => s.workerId);
      expect(listed).toContain('py-sdk-re');
      const { code, stats } = await w.stop();
      expect({ code, stderr: w.stderr() }).toEqual({ code: 0, stderr: '' });
      expect(stats.stats.reconnects).toBeGreaterThanOrEqual(1);
      expect(stats.publisher).toMatchObject({ dropped_oldest: 0, dropped_at_stop: 0, reconnects: 0 });
    } finally {
      subscriber.close();
    }
  });

  it('keeps a bounded queue while the gateway is away: the oldest dropped and counted, the newest delivered once it is back', async () => {
    const stream = 'cam-away';
    const publisher = openPublisher(pipeline.supplierAddress);
    const w = worker({ worker_id: 'py-sdk-away', stream, max_queued_results: QUEUE_BOUND });
    // One frame at a time, each analysed before the next: the worker analyses every one, once.
    const feed = async (sequences: number[]) => {
      for (const seq of sequences) {
        publisher.publish(stream, seq);
        await waitFor(`the worker analysing frame ${seq}`, () => w.analyzed().includes(seq), WAIT_MS, 20);
      }
    };
    try {
      await waitFor('the worker subscribed', async () => (await supplierStats(pipeline.supplierAddress)).workers.some((x) => x.workerId === 'py-sdk-away'), WAIT_MS);
      await feed([1, 2, 3]);
      await waitFor('results 1-3 archived', async () => (await replay(pipeline.gatewayAddress, stream, 'py-sdk-away', 1, 3)).length === 3, WAIT_MS);
      await pipeline.stopService('gateway');
      const away = Array.from({ length: FRAMES_WHILE_AWAY }, (_, i) => 101 + i);
      await feed(away);
      await pipeline.restartService('gateway');
      const newest = away.slice(-QUEUE_BOUND);
      await waitFor('the queued results at the gateway', async () => (await replay(pipeline.gatewayAddress, stream, 'py-sdk-away', 101, 200)).length >= QUEUE_BOUND, WAIT_MS);
      const delivered = (await replay(pipeline.gatewayAddress, stream, 'py-sdk-away', 101, 200)).map((r) => r.frameSequence);
      expect(delivered).toEqual(newest);
      const { code, stats } = await w.stop();
      expect({ code, stderr: w.stderr() }).toEqual({ code: 0, stderr: '' });
      expect(stats.stats).toMatchObject({ frames: 3 + FRAMES_WHILE_AWAY, results: 3 + FRAMES_WHILE_AWAY });
      // Every result beyond the bound was dropped and counted; at most the first one after the stop
      // went into the call the gateway was closing.
      expect(stats.publisher.dropped_oldest).toBeGreaterThanOrEqual(FRAMES_WHILE_AWAY - QUEUE_BOUND - 1);
      expect(stats.publisher.dropped_oldest).toBeLessThanOrEqual(FRAMES_WHILE_AWAY - QUEUE_BOUND);
      expect(stats.publisher.reconnects).toBeGreaterThanOrEqual(1);
      expect(stats.publisher.dropped_at_stop).toBe(0);
    } finally {
      publisher.end();
    }
  });

  it('joins a shared pool: two Python workers divide a stream, each frame to at most one of them', async () => {
    const stream = 'cam-sdk-pool';
    const publisher = openPublisher(pipeline.supplierAddress);
    let publishing: NodeJS.Timeout | undefined;
    try {
      const options = { pool: 'py-sdk-pool', stream, max_frames: 10 };
      const [a, b] = [worker({ ...options, worker_id: 'py-sdk-a' }), worker({ ...options, worker_id: 'py-sdk-b' })];
      const pool = async () => (await supplierStats(pipeline.supplierAddress)).pools.find((p) => p.poolId === 'py-sdk-pool');
      await waitFor('both Python members in the pool', async () => (await pool())?.members.length === 2, WAIT_MS);
      let sequence = 0;
      publishing = setInterval(() => publisher.publish(stream, ++sequence), PUBLISH_INTERVAL_MS);
      const [endA, endB] = await Promise.all([a.ended(), b.ended()]);
      for (const [end, w] of [[endA, a], [endB, b]] as const) {
        expect({ code: end.code, stderr: w.stderr() }).toEqual({ code: 0, stderr: '' });
        expect(end.stats.stats).toMatchObject({ frames: 10, results: 10 });
        expect(end.stats.publisher).toMatchObject({ delivered: 10, dropped_oldest: 0 });
      }
      expect(a.analyzed(stream)).toHaveLength(10);
      expect(a.analyzed(stream).filter((s) => b.analyzed(stream).includes(s))).toEqual([]);
    } finally {
      clearInterval(publishing);
      publisher.end();
    }
  });
  it('acknowledges commands through ListenCommands, and GatewayClient sends them and reads its results', async () => {
    const w = worker({ worker_id: 'py-sdk-cmd', stream: STREAM, commands: true });
    await waitFor('frames analysed', () => w.analyzed().length >= 1, WAIT_MS);
    const script = [
      'import json, sys, framewire',
      `client = framewire.GatewayClient(${JSON.stringify(pipeline.gatewayAddress)}, token=${JSON.stringify(TOKEN)})`,
      'acks = [client.send_command("py-sdk-cmd", t, p) for t, p in (("worker.set_fps", {"fps": 5}), ("worker.set_analyzer", {"analyzers": ["motion"]}))]',
      'results = client.subscribe(worker_id="py-sdk-cmd", kinds=["detections"])',
      'seen = []',
      'for r in results:',
      '    seen.append({"worker_id": r.worker_id, "kind": r.WhichOneof("payload"), "label": r.detections.detections[0].label, "seq": r.frame_sequence})',
      '    if len(seen) == 3: break',
      'results.cancel()',
      'print(json.dumps({"acks": [{"status": a.status, "message": a.message, "responder": a.responder} for a in acks], "results": seen}))',
    ].join('\n');
    const printed = JSON.parse(execFileSync(python, ['-c', script], { cwd: dir, encoding: 'utf8', timeout: WAIT_MS }));
    expect(printed.acks).toEqual([
      { status: AckStatus.ACK_STATUS_SUCCESS, message: 'fps 5', responder: 'py-sdk-cmd' },
      { status: AckStatus.ACK_STATUS_ERROR, message: "command type 'worker.set_analyzer' is not handled by this worker", responder: 'py-sdk-cmd' },
    ]);
    expect(printed.results).toHaveLength(3);
    for (const r of printed.results) expect(r).toEqual({ worker_id: 'py-sdk-cmd', kind: 'detections', label: `seq ${r.seq}`, seq: r.seq });
    const { code } = await w.stop(); // its output is read once the event loop runs again (execFileSync held it)
    expect({ code, stderr: w.stderr() }).toEqual({ code: 0, stderr: '' });
    expect(w.lines.filter((l) => 'command' in l).map((l) => l.command)).toEqual(['worker.set_fps', 'worker.set_analyzer']);
  });
  it('runs the worked example of docs/write-a-worker-python.md: two results per frame at the gateway', async () => {
    const subscriber = subscribeResults(pipeline.gatewayAddress, { workerId: 'my-py-worker' }, tokenMetadata(secretText(TOKEN)));
    try {
      await new Promise((r) => setTimeout(r, 300)); // the subscription is open before results flow
      const env = { PATH: process.env.PATH ?? '', FW_STREAM: STREAM, FW_SUPPLIER_ADDRESS: pipeline.supplierAddress, FW_GATEWAY_ADDRESS: pipeline.gatewayAddress, FW_AUTH_TOKEN: TOKEN };
      const printed = execFileSync(python, [join(REPO_ROOT, 'examples/python/my_worker.py'), '3'], { env, encoding: 'utf8', timeout: WAIT_MS });
      expect(printed).toMatch(/^WorkerStats\(frames=3, batches=3, results=6, reconnects=0, /);
      await waitFor('6 results at the subscriber', () => subscriber.results.length >= 6, WAIT_MS);
      const [detections, keypoints] = subscriber.results;
      expect(detections.detections?.detections).toEqual([{ box: { x: 80, y: 60, width: 160, height: 120 }, score: expect.closeTo(0.9, 5), classId: 1, label: 'middle' }]);
      expect(keypoints.keypoints).toEqual({ points: [{ id: 0, x: 160, y: 120, confidence: 1 }], pointNames: { centre: 0 } });
      expect(keypoints.frameSequence).toBe(detections.frameSequence);
    } finally {
      subscriber.close();
    }
  });
});

describeWithPython('Python SDK over TLS', () => {
  jest.setTimeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'fw-python-sdk-tls-'));
  const cert = join(REPO_ROOT, 'libs/service-runtime/test-fixtures/localhost.crt');
  const key = join(REPO_ROOT, 'libs/service-runtime/test-fixtures/localhost.key');
  let python: string;
  let pipeline: Pipeline;

  beforeAll(async () => {
    python = installPythonSdk(dir);
    pipeline = await startPipeline({
      streamId: STREAM, fps: 15, width: 320, height: 240, archiveDir: join(dir, 'archive'), token: TOKEN, workers: [],
      env: { FW_TLS_CERT: cert, FW_TLS_KEY: key, FW_TLS_CA: cert },
    });
  });

  afterAll(async () => {
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pulls and publishes over TLS with the root certificate and the token', async () => {
    const w = startPythonWorker(python, { supplier: pipeline.supplierAddress, gateway: pipeline.gatewayAddress, root_cert: cert, worker_id: 'py-sdk-tls', stream: STREAM, max_frames: 3 });
    const { code, stats } = await w.ended();
    expect({ code, stderr: w.stderr() }).toEqual({ code: 0, stderr: '' });
    expect(stats.stats).toMatchObject({ frames: 3, results: 3 });
    expect(stats.publisher).toMatchObject({ sent: 3, delivered: 3 });
  });
});
