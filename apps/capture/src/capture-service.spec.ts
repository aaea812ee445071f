// The built capture service (dist/, rebuilt by Jest's global setup) against a recording
// FrameSupplier on loopback: it publishes, keeps serving health, and stops cleanly.
import * as grpc from '@grpc/grpc-js';
import { Frame, FrameSupplierServer, FrameSupplierService, PixelFormat } from '@framewire/proto';
import { isProcessAlive, itIfInstalled } from '@framewire/testing';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MAIN = resolve(__dirname, '../../../dist/apps/capture/src/main.js');
const STOP_BOUND_MS = 5_000;

async function until(condition: () => boolean, timeoutMs: number, what: string, output: string[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('capture service', () => {
  const frames: Frame[] = [];
  let server: grpc.Server;
  let supplierPort = 0;
  let child: ChildProcess | undefined;
  let folder: string;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'fw-capture-app-'));
    server = new grpc.Server();
    const supplier: FrameSupplierServer = {
      publish: (call, callback) => {
        call.on('data', (r: { frame?: Frame }) => r.frame && frames.push(r.frame));
        call.on('end', () => callback(null, { framesReceived: frames.length, inboxDrops: 0 }));
        call.on('error', () => undefined);
      },
      subscribe: (call) => call.end(),
      pull: (call) => call.end(),
      getStats: (_call, callback) => callback(null, { stats: { streams: [], workers: [], refused: [], pools: [] } }),
      listRings: (_call, callback) => callback(null, { rings: [] }),
    };
    server.addService(FrameSupplierService, supplier);
    supplierPort = await new Promise<number>((res, rej) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? rej(err) : res(port))),
    );
  });

  afterAll(() => {
    server.forceShutdown();
    rmSync(folder, { recursive: true, force: true });
  });

  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
    frames.length = 0;
  });

  function startCapture(env: Record<string, string>): { child: ChildProcess; output: string[] } {
    const c = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? '',
        FW_GRPC_PORT: '0',
        FW_GRPC_HOST: '127.0.0.1',
        FW_LOG_FORMAT: 'json',
        FW_SUPPLIER_ADDRESS: `127.0.0.1:${supplierPort}`,
        FW_STREAM_ID: 'cam-test',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const collect = (chunk: Buffer) => output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    c.stdout?.on('data', collect);
    c.stderr?.on('data', collect);
    child = c;
    return { child: c, output };
  }

  async function stop(c: ChildProcess): Promise<{ code: number | null; ms: number }> {
    const started = Date.now();
    const exited = once(c, 'exit');
    c.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    return { code, ms: Date.now() - started };
  }

  it('publishes the synthetic scene, logs "publishing" and stops with code 0 within the bound', async () => {
    const { child: c, output } = startCapture({ FW_CAPTURE_FPS: '20', FW_CAPTURE_WIDTH: '320', FW_CAPTURE_HEIGHT: '240' });
    await until(() => frames.length >= 10, 10_000, 'frames at the supplier', output);
    const publishing = output.map((l) => JSON.parse(l) as { message: string }).find((r) => r.message === 'publishing');
    expect(publishing).toMatchObject({ streamId: 'cam-test', address: `127.0.0.1:${supplierPort}` });
    // Frames captured before the call opened replaced each other: the first to arrive may not be 1.
    expect(frames[0].sequence).toBeLessThan(10);
    for (let i = 1; i < frames.length; i++) expect(frames[i].sequence).toBeGreaterThan(frames[i - 1].sequence);
    for (const f of frames) expect(f).toMatchObject({ streamId: 'cam-test', width: 320, height: 240, pixelFormat: PixelFormat.PIXEL_FORMAT_JPEG });
    const { code, ms } = await stop(c);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(STOP_BOUND_MS);
    expect(output.join('\n')).toContain('"capture stopped"');
  });

  itIfInstalled('ffmpeg', 'apt-get install ffmpeg')('leaves no ffmpeg behind when stopped', async () => {
    const video = join(folder, 'clip.avi');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-t', '1', '-c:v', 'mjpeg', video]);
    const { child: c, output } = startCapture({ FW_CAPTURE_SOURCE: `ffmpeg:${video}`, FW_CAPTURE_LOOP: 'true', FW_CAPTURE_FPS: '10', FW_LOG_LEVEL: 'debug' });
    await until(() => frames.length >= 3, 10_000, 'ffmpeg frames at the supplier', output);
    const started = output.map((l) => JSON.parse(l) as { message: string; pid?: number }).find((r) => r.message === 'ffmpeg started');
    expect(started?.pid).toBeGreaterThan(0);
    expect(frames[0]).toMatchObject({ width: 160, height: 120 });
    const { code } = await stop(c);
    expect(code).toBe(0);
    expect(isProcessAlive(started!.pid!)).toBe(false);  
  });
});
