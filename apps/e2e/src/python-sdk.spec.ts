// The Python SDK (clients/python) against the real services: installed into a temporary venv with
// Debian's python3 (offline, with Debian's grpcio and protobuf), then used from Python programs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installPythonSdk, pythonSdkProblem } from './support/python-sdk';

// Skipped with the reason on a machine without the packages; never under CI, which installs them (.ci/run).
const problem = process.env.CI ? undefined : pythonSdkProblem();
if (problem) process.stderr.write(`skipped: the Python SDK tests: ${problem}\n`);
const describeWithPython = problem ? describe.skip : describe;

describeWithPython('Python SDK (clients/python)', () => {
  jest.setTimeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'fw-python-sdk-'));
  let python: string;

  beforeAll(() => {
    python = installPythonSdk(dir);
  });

  afterAll(() => {
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
});
