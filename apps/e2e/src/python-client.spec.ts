// The Python client of examples/python against the real services: stubs generated from proto/ by
// Debian's protoc + grpc_python_plugin, run with Debian's /usr/bin/python3 and python3-grpcio. As a
// worker its results reach a SubscribeResults subscriber, alone or as a member of a worker pool
// (frames divided between two Python processes, batches of distinct streams, sticky owners); as a
// consumer it reads results and its command is acknowledged by a TypeScript worker.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { tokenMetadata } from '@framewire/grpc-client';
import { FrameSupplierClient, PoolMode, PoolStats } from '@framewire/proto';
import { secretText } from '@framewire/service-runtime';
import { REPO_ROOT } from '@framewire/testing';
import { openPull, subscribeResults, supplierStats, testFrame, waitFor } from '@framewire/testing';
import { Pipeline, startPipeline } from './support/pipeline';

const PYTHON = '/usr/bin/python3';
const EXAMPLE = join(REPO_ROOT, 'examples/python');
const TOKEN = 'python-client-e2e-token';
const STREAM = 'cam-py';
const PY_WORKER = 'py-worker-1';
/** Bound on one run of the Python client. */
const CLIENT_TIMEOUT_MS = 30_000;
/** How long a test waits for what must happen (a bound on a hang, not a speed). */
const WAIT_MS = 15_000;
/** Pace of the test's own publisher in the shared pool test (frames keep coming until both members are done). */
const PUBLISH_INTERVAL_MS = 20;

/** Debian's python3 with grpcio and protobuf, protoc and its gRPC plugin: what the example needs. */
function pythonClientProblem(): string | undefined {
  try {
    execFileSync(PYTHON, ['-c', 'import grpc, google.protobuf'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return `${PYTHON} cannot import grpc (apt-get install python3-grpcio python3-protobuf)`;
  }
  for (const tool of ['protoc', 'grpc_python_plugin']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (apt-get install protobuf-compiler protobuf-compiler-grpc)`;
    }
  }
  return undefined;
}

// Skipped with the reason on a machine without the packages; never under CI, which installs them
// (.ci/run), so that a missing package fails there loudly.
const problem = process.env.CI ? undefined : pythonClientProblem();
if (problem) process.stderr.write(`skipped: the Python client tests: ${problem}\n`);
const describeWithPython = problem ? describe.skip : describe;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runClient(stubs: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(PYTHON, [join(EXAMPLE, 'framewire_client.py'), '--token', TOKEN, ...args], { env: { PATH: process.env.PATH ?? '', FW_PYTHON_STUBS: stubs }, timeout: CLIENT_TIMEOUT_MS }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

/** A Publish call of the test's own frames (testFrame), with the token. */
function openPublisher(supplierAddress: string): { publish(streamId: string, sequence: number): void; end(): void } {
  const client = new FrameSupplierClient(supplierAddress, grpc.credentials.createInsecure());
  const call = client.publish(tokenMetadata(secretText(TOKEN)), () => undefined);
  return {
    publish: (streamId, sequence) => void call.write({ frame: testFrame(streamId, sequence) }),
    end: () => {
      call.end();
      client.close();
    },
  };
}

async function poolStats(supplierAddress: string, poolId: string): Promise<PoolStats | undefined> {
  return (await supplierStats(supplierAddress)).pools.find((p) => p.poolId === poolId);
}

/** What --print-batches prints for one delivery. */
interface PrintedDelivery {
  stream_id: string;
  sequence: number;
  pool_id: string;
  dropped_since_last: number;
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));

describeWithPython('Python client (examples/python)', () => {
  jest.setTimeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'fw-python-client-'));
  const stubs = join(dir, 'stubs');
  let pipeline: Pipeline;
  let args: { supplier: string; gateway: string };

  beforeAll(async () => {
    execFileSync(join(EXAMPLE, 'generate.sh'), [stubs], { stdio: 'pipe' });
    pipeline = await startPipeline({ streamId: STREAM, fps: 15, width: 640, height: 480, archiveDir: join(dir, 'archive'), token: TOKEN, workers: ['worker-1'] });
    args = { supplier: `127.0.0.1:${pipeline.ports.supplier}`, gateway: `127.0.0.1:${pipeline.ports.gateway}` };
  });

  afterAll(async () => {
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const worker = (frames: number) =>
    runClient(stubs, ['worker', '--supplier', args.supplier, '--gateway', args.gateway, '--stream', STREAM, '--worker-id', PY_WORKER, '--frames', String(frames)]);

  it('works as a worker: its results reach a SubscribeResults subscriber', async () => {
    const subscriber = subscribeResults(pipeline.gatewayAddress, { workerId: PY_WORKER }, tokenMetadata(secretText(TOKEN)));
    try {
      await new Promise((r) => setTimeout(r, 300)); // the subscription is open before results flow
      const run = await worker(10);
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(jsonLines(run.stdout)).toEqual([{ worker_id: PY_WORKER, frames: 10, batches: 10, results_received: 10, dropped: 0 }]);
      await waitFor('the Python worker results at the subscriber', () => subscriber.results.length >= 10, 10_000);
      const sequences = subscriber.results.map((r) => r.frameSequence);
      expect(new Set(sequences).size).toBe(10);
      for (const r of subscriber.results) {
        expect(r).toMatchObject({ streamId: STREAM, workerId: PY_WORKER });
        expect(r.captureTimeUs).toBeGreaterThan(0);
        expect(r.publishedTimeUs).toBeGreaterThanOrEqual(r.captureTimeUs);
        // The Python worker read the JPEG's own frame header: the capture's 640x480.
        expect(r.detections?.detections).toEqual([expect.objectContaining({ box: { x: 0, y: 0, width: 640, height: 480 }, score: 1 })]);
        expect(r.detections?.detections[0].label).toMatch(/^jpeg \d+ bytes$/);
      }
    } finally {
      subscriber.close();
    }
  });

  /** The batches a --print-batches run printed, and its summary line. */
  const printed = (run: Run) => {
    const lines = jsonLines(run.stdout);
    return { batches: lines.filter((l) => 'batch' in l).map((l) => l.batch as PrintedDelivery[]), summary: lines.find((l) => 'worker_id' in l) };
  };
  const poolWorker = (workerId: string, options: string[]) =>
    runClient(stubs, ['worker', '--supplier', args.supplier, '--gateway', args.gateway, '--worker-id', workerId, '--print-batches', ...options]);
  const tokenOf = () => tokenMetadata(secretText(TOKEN));

  it('joins a shared pool: two Python workers divide a stream, each frame to at most one of them', async () => {
    const subscriber = subscribeResults(pipeline.gatewayAddress, { streamId: 'cam-pool' }, tokenOf());
    const publisher = openPublisher(pipeline.supplierAddress);
    let publishing: NodeJS.Timeout | undefined;
    try {
      const pool = ['--pool', 'py-shared', '--stream', 'cam-pool', '--frames', '10'];
      const runs = Promise.all([poolWorker('py-pool-a', pool), poolWorker('py-pool-b', pool)]);
      // The stream has no publisher until both are members, so they take part at the same time.
      await waitFor('both Python members in the pool', async () => (await poolStats(pipeline.supplierAddress, 'py-shared'))?.members.length === 2, WAIT_MS);
      const joined = (await poolStats(pipeline.supplierAddress, 'py-shared')) as PoolStats;
      expect({ mode: joined.mode, members: joined.members.map((m) => m.workerId).sort() }).toEqual({ mode: 'shared', members: ['py-pool-a', 'py-pool-b'] });
      let sequence = 0;
      publishing = setInterval(() => publisher.publish('cam-pool', ++sequence), PUBLISH_INTERVAL_MS);
      const [a, b] = await runs;
      clearInterval(publishing);

      for (const [run, workerId] of [[a, 'py-pool-a'], [b, 'py-pool-b']] as const) {
        expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
        expect(printed(run).summary).toEqual({ worker_id: workerId, frames: 10, batches: 10, results_received: 10, dropped: 0 });
        for (const batch of printed(run).batches) expect(batch).toEqual([expect.objectContaining({ stream_id: 'cam-pool', pool_id: 'py-shared' })]);
      }
      const sequencesOf = (run: Run) => printed(run).batches.flat().map((d) => d.sequence);
      // Both received frames; no frame reached both.
      const [seqA, seqB] = [sequencesOf(a), sequencesOf(b)];
      expect(seqA).toHaveLength(10);
      expect(seqB).toHaveLength(10);
      expect(seqA.filter((s) => seqB.includes(s))).toEqual([]);
      // Each published its own frames' results on the stream.
      await waitFor('the pool members results at the subscriber', () => subscriber.results.length >= 20, WAIT_MS);
      const resultsOf = (workerId: string) =>
        subscriber.results
          .filter((r) => r.workerId === workerId)
          .map((r) => r.frameSequence)
          .sort((x, y) => x - y);
      expect(resultsOf('py-pool-a')).toEqual([...seqA].sort((x, y) => x - y));
      expect(resultsOf('py-pool-b')).toEqual([...seqB].sort((x, y) => x - y));
    } finally {
      clearInterval(publishing);
      publisher.end();
      subscriber.close();
    }
  });

  it('takes a batch of distinct streams with --batch, and each later frame as it comes with the credits left', async () => {
    const streams = ['cam-b1', 'cam-b2', 'cam-b3'];
    const subscriber = subscribeResults(pipeline.gatewayAddress, { workerId: 'py-batch-1' }, tokenOf());
    // A member without credits keeps the pool and its pending frames until the Python member joins.
    const holder = openPull(pipeline.supplierAddress, { workerId: 'py-batch-holder', streamId: '', poolId: 'py-batch', streamIds: streams }, { credits: 0, metadata: tokenOf() });
    const publisher = openPublisher(pipeline.supplierAddress);
    try {
      await waitFor('the holder in the pool', async () => (await poolStats(pipeline.supplierAddress, 'py-batch'))?.members.length === 1, WAIT_MS);
      for (const streamId of streams) for (const sequence of [1, 2]) publisher.publish(streamId, sequence);
      await waitFor('two frames of each stream at the pool', async () => (await poolStats(pipeline.supplierAddress, 'py-batch'))?.streams.every((s) => s.published === 2) === true, WAIT_MS);

      const running = poolWorker('py-batch-1', ['--pool', 'py-batch', '--streams', streams.join(','), '--batch', '3', '--frames', '5']);
      // Its first grant took the three pending frames; once they all came it granted 3 again.
      const member = async () => (await poolStats(pipeline.supplierAddress, 'py-batch'))?.members.find((m) => m.workerId === 'py-batch-1');
      await waitFor('the Python member took a batch and granted again', async () => (await member())?.framesTaken === 3 && (await member())?.creditsOutstanding === 3, WAIT_MS);
      publisher.publish('cam-b1', 3);
      publisher.publish('cam-b2', 3);
      const run = await running;

      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      const { batches, summary } = printed(run);
      expect(summary).toEqual({ worker_id: 'py-batch-1', frames: 5, batches: 3, results_received: 5, dropped: 0 });
      // The newest frame of each stream once, the older one the pool's drop; then one frame per batch.
      expect([...batches[0]].sort((x, y) => x.stream_id.localeCompare(y.stream_id))).toEqual(
        streams.map((streamId) => ({ stream_id: streamId, sequence: 2, pool_id: 'py-batch', dropped_since_last: 1 })),
      );
      expect(batches.slice(1)).toEqual([[expect.objectContaining({ stream_id: 'cam-b1', sequence: 3 })], [expect.objectContaining({ stream_id: 'cam-b2', sequence: 3 })]]);
      await waitFor('the batch results at the subscriber', () => subscriber.results.length >= 5, WAIT_MS);
      expect(subscriber.results.map((r) => `${r.streamId}#${r.frameSequence}`).sort()).toEqual(['cam-b1#2', 'cam-b1#3', 'cam-b2#2', 'cam-b2#3', 'cam-b3#2']);

      // The pool is shared: a member asking sticky is refused, and the client says why.
      const refused = await poolWorker('py-batch-2', ['--pool', 'py-batch', '--pool-mode', 'sticky', '--stream', 'cam-b1', '--frames', '1']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^worker: FAILED_PRECONDITION: pool_mode conflicts: pool "py-batch" runs in shared mode; worker "py-batch-2" asked for sticky\n$/);
      expect(printed(refused).summary).toMatchObject({ worker_id: 'py-batch-2', frames: 0 });
    } finally {
      publisher.end();
      holder.close();
      subscriber.close();
    }
  });

  it('joins a sticky pool: takes a stream only once it owns it', async () => {
    // The holder joined first and owns the stream; it takes nothing (no credits).
    const holder = openPull(pipeline.supplierAddress, { workerId: 'py-sticky-holder', streamId: 'cam-st', poolId: 'py-sticky', poolMode: PoolMode.POOL_MODE_STICKY }, { credits: 0, metadata: tokenOf() });
    const publisher = openPublisher(pipeline.supplierAddress);
    try {
      await waitFor('the holder in the pool', async () => (await poolStats(pipeline.supplierAddress, 'py-sticky'))?.members.length === 1, WAIT_MS);
      const running = poolWorker('py-sticky-1', ['--pool', 'py-sticky', '--pool-mode', 'sticky', '--stream', 'cam-st', '--frames', '2']);
      await waitFor('the Python member in the pool', async () => (await poolStats(pipeline.supplierAddress, 'py-sticky'))?.members.length === 2, WAIT_MS);
      publisher.publish('cam-st', 1);
      publisher.publish('cam-st', 2);
      await waitFor('both frames at the pool', async () => (await poolStats(pipeline.supplierAddress, 'py-sticky'))?.streams[0]?.published === 2, WAIT_MS);
      const stats = (await poolStats(pipeline.supplierAddress, 'py-sticky')) as PoolStats;
      expect(stats).toMatchObject({ mode: 'sticky', streams: [{ streamId: 'cam-st', owner: 'py-sticky-holder', taken: 0 }] });
      // The owner leaves: the stream and its pending frame move to the Python member.
      holder.close();
      await waitFor('the Python member owns the stream', async () => (await poolStats(pipeline.supplierAddress, 'py-sticky'))?.streams[0]?.owner === 'py-sticky-1', WAIT_MS);
      publisher.publish('cam-st', 3);
      const run = await running;
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(printed(run).batches.flat().map((d) => d.sequence)).toEqual([2, 3]);
    } finally {
      publisher.end();
      holder.close();
    }
  });

  it('works as a consumer: reads filtered results as JSON lines', async () => {
    const consuming = runClient(stubs, ['consume', '--gateway', args.gateway, '--worker-id', 'worker-1', '--kinds', 'detections,tracks', '--count', '4', '--timeout', '20']);
    const run = await consuming;
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const results = jsonLines(run.stdout);
    expect(results).toHaveLength(4);
    for (const r of results) {
      expect(r).toMatchObject({ stream_id: STREAM, worker_id: 'worker-1' });
      expect(['detections', 'tracks']).toContain(r.kind);
    }
  });

  it('sends a command and prints its acknowledgement', async () => {
    const ok = await runClient(stubs, ['command', '--gateway', args.gateway, '--target', 'worker-1', '--type', 'worker.set_fps', '--payload', '{"fps": 5}', '--request-id', 'py-e2e-1']);
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
    expect(jsonLines(ok.stdout)).toEqual([expect.objectContaining({ request_id: 'py-e2e-1', status: 'ACK_STATUS_SUCCESS', message: 'fps: 5', responder: 'worker-1' })]);

    const unknown = await runClient(stubs, ['command', '--gateway', args.gateway, '--target', 'no-such-service', '--type', 'worker.set_fps', '--payload', '{"fps": 5}', '--timeout-ms', '1000']);
    expect(unknown.code).toBe(2);
    expect(jsonLines(unknown.stdout)).toEqual([expect.objectContaining({ status: expect.stringMatching(/ACK_STATUS_(UNKNOWN_TARGET|TIMEOUT)/) })]);
  });
});
