// The Python client of examples/python against the real services: stubs generated from proto/ by
// Debian's protoc + grpc_python_plugin, run with Debian's /usr/bin/python3 and python3-grpcio. As a
// worker its results reach a SubscribeResults subscriber; as a consumer it reads results and its
// command is acknowledged by a TypeScript worker.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tokenMetadata } from '@framewire/grpc-client';
import { secretText } from '@framewire/service-runtime';
import { REPO_ROOT } from '@framewire/testing';
import { subscribeResults, waitFor } from '@framewire/testing';
import { Pipeline, startPipeline } from './support/pipeline';

const PYTHON = '/usr/bin/python3';
const EXAMPLE = join(REPO_ROOT, 'examples/python');
const TOKEN = 'python-client-e2e-token';
const STREAM = 'cam-py';
const PY_WORKER = 'py-worker-1';
/** Bound on one run of the Python client. */
const CLIENT_TIMEOUT_MS = 30_000;

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
      expect(jsonLines(run.stdout)).toEqual([{ worker_id: PY_WORKER, frames: 10, results_received: 10, dropped: 0 }]);
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
