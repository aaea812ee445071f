// The worker SDK as a project outside this repository gets it: tools/pack-worker-sdk.mjs packs the
// tarball, npm installs it OFFLINE into an empty temporary project (from the cache the repository's
// own install filled), and the ten-line example worker (examples/typescript/brightness-worker.mjs,
// the one docs/write-a-worker.md shows) runs from there against a real supplier, gateway and
// synthetic camera: its results reach the gateway, and it stops on SIGTERM.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResultKind } from '@framewire/proto';
import { REPO_ROOT, ResultRecorder, subscribeResults, waitFor } from '@framewire/testing';
import { installOffline } from './support/offline-install';
import { Pipeline, startPipeline } from './support/pipeline';

const STREAM = 'cam-sdk-package';
const WORKER = 'sdk-package-worker';
/** Bound on a hang (never a speed): packing runs tsc, installing unpacks about 50 packages. */
const SETTLE_MS = 120_000;

describe('the worker SDK package, installed offline into an empty project', () => {
  jest.setTimeout(300_000);
  let dir: string;
  let tarball: string;
  let pipeline: Pipeline;
  let results: ResultRecorder;
  let worker: ChildProcess | undefined;
  const output: string[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fw-sdk-package-'));
    const packed = execFileSync(process.execPath, [join(REPO_ROOT, 'tools', 'pack-worker-sdk.mjs'), '--out', join(dir, 'packages')], { encoding: 'utf8' });
    tarball = /pack-worker-sdk: (\S+\.tgz)/.exec(packed)?.[1] ?? '';
  }, SETTLE_MS);

  afterAll(async () => {
    results?.close();
    if (worker && worker.exitCode === null) {
      worker.kill('SIGKILL');
      await once(worker, 'exit');
    }
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('packs compiled JavaScript, declarations and the generated proto code, depending on registry packages at the pinned versions', () => {
    expect(tarball).toMatch(/framewire-worker-sdk-\d+\.\d+\.\d+\.tgz$/);
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const f of ['package/index.mjs', 'package/libs/worker/src/index.js', 'package/libs/worker/src/index.d.ts', 'package/libs/proto/src/index.js', 'package/libs/shm/native/framewire_shm.node']) expect(files).toContain(f);
    expect(files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toBe(false);
    const manifest = JSON.parse(execFileSync('tar', ['-xOzf', tarball, 'package/package.json'], { encoding: 'utf8' }));
    const pinned = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).dependencies;
    expect(manifest.name).toBe('@framewire/worker-sdk');
    for (const [name, version] of Object.entries(manifest.dependencies)) expect({ name, version }).toEqual({ name, version: pinned[name] });
    expect(Object.keys(manifest.dependencies).some((n) => n.startsWith('@framewire/'))).toBe(false);
    // No alias to a workspace library is left in the code or the declarations.
    const code = execFileSync('tar', ['-xOzf', tarball, 'package/libs/worker/src/run-worker.js', 'package/libs/worker/src/run-worker.d.ts'], { encoding: 'utf8' });
    expect(code).not.toMatch(/["']@framewire\//);
  });

  it('installs offline into an empty project, and its ten-line worker’s results reach the gateway', async () => {
    const project = join(dir, 'project');
    execFileSync('mkdir', ['-p', project]);
    installOffline(project, tarball, REPO_ROOT);
    expect(existsSync(join(project, 'node_modules', '@framewire', 'worker-sdk', 'package.json'))).toBe(true);
    copyFileSync(join(REPO_ROOT, 'examples', 'typescript', 'brightness-worker.mjs'), join(project, 'worker.mjs'));
    expect(readFileSync(join(project, 'worker.mjs'), 'utf8').trimEnd().split('\n').length).toBeLessThanOrEqual(14);

    pipeline = await startPipeline({ streamId: STREAM, fps: 10, width: 160, height: 120, archiveDir: join(dir, 'archive'), workers: [] });
    results = subscribeResults(pipeline.gatewayAddress, { workerId: WORKER, kinds: [ResultKind.RESULT_KIND_DETECTIONS] });
    // Only PATH: the worker sees nothing of this repository (no NODE_PATH, run from the project).
    worker = spawn(process.execPath, ['worker.mjs'], {
      cwd: project,
      env: { PATH: process.env.PATH ?? '', FW_WORKER_ID: WORKER, FW_STREAM_ID: STREAM, FW_SUPPLIER_ADDRESS: pipeline.supplierAddress, FW_GATEWAY_ADDRESS: pipeline.gatewayAddress },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
    worker.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
    await waitFor('results of the packaged worker', () => results.results.length >= 3 || worker?.exitCode !== null, SETTLE_MS);
    expect({ exit: worker.exitCode, output: worker.exitCode === null ? '' : output.join('') }).toEqual({ exit: null, output: '' });
    for (const r of results.results.slice(0, 3)) {
      expect(r).toMatchObject({ streamId: STREAM, workerId: WORKER });
      const [d] = r.detections?.detections ?? [];
      expect(d).toMatchObject({ classId: 0, box: { x: 0, y: 0, width: 160, height: 120 } });
      expect(d.label).toBe(`brightness ${d.score.toFixed(2)}`);
      expect(d.score).toBeGreaterThan(0);
      expect(d.score).toBeLessThan(1);
    }
    worker.kill('SIGTERM');
    const [code] = await once(worker, 'exit');
    expect(code).toBe(0);
  });
});
