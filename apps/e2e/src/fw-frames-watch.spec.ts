// `fw frames watch` against the real capture and supplier (both with a token, which guards the
// frames): a user's way to see the frame path. The supplier listens where `npm start` with
// FW_START_BASE_PORT would put it, so the watch's default address can be checked.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO_ROOT, ServiceProcess, findFreePortBlock, startServiceProcess, stopServiceProcess } from '@framewire/testing';

const FPS = 10;
const WATCH_SECONDS = 3;
const TOKEN = 'frames-watch-token-0123456789';
/** fw's environment: no FW_AUTH_TOKEN of the caller's leaks in. */
const FW_ENV = { PATH: process.env.PATH ?? '' };

/** Runs `fw frames watch args…` as a user's shell would, and resolves when it exits. */
async function watch(args: string[], env: Record<string, string> = FW_ENV): Promise<{ code: number; out: string; err: string }> {
  const fw = spawn(process.execPath, [join(REPO_ROOT, 'tools/fw/bin/fw.js'), 'frames', 'watch', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  fw.stdout.on('data', (c: Buffer) => (out += c.toString()));
  let err = '';
  fw.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const [code] = (await once(fw, 'exit')) as [number];
  return { code, out, err };
}

describe('fw frames watch', () => {
  const services: ServiceProcess[] = [];
  let supplier: ServiceProcess;
  /** The FW_START_BASE_PORT whose supplier (base + 1) this is. */
  let basePort: number;

  beforeAll(async () => {
    basePort = await findFreePortBlock(2);
    supplier = await startServiceProcess('supplier', { FW_GRPC_PORT: String(basePort + 1), FW_METRICS_PORT: '0', FW_AUTH_TOKEN: TOKEN });
    services.push(supplier);
    services.push(
      await startServiceProcess('capture', {
        FW_SUPPLIER_ADDRESS: `127.0.0.1:${supplier.port}`,
        FW_AUTH_TOKEN: TOKEN,
        FW_STREAM_ID: 'cam-watch',
        FW_CAPTURE_FPS: String(FPS),
        FW_CAPTURE_WIDTH: '320',
        FW_CAPTURE_HEIGHT: '240',
      }),
    );
  });

  afterAll(async () => {
    for (const s of services.reverse()) await stopServiceProcess(s);
  });

  it('prints the rate, age and size of the frames a worker would get', async () => {
    const { code, out, err } = await watch(['--supplier', `127.0.0.1:${supplier.port}`, '--stream', 'cam-watch', '--token', TOKEN, '--seconds', String(WATCH_SECONDS), '--json']);
    expect(err).toBe('');
    expect(code).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { fps: number; width: number; height: number; pixelFormat: string; ageP99Ms: number });
    expect(lines.length).toBeGreaterThanOrEqual(WATCH_SECONDS - 1);
    const last = lines[lines.length - 1];
    // Some whole second after start-up runs close to the source rate (a window may hold FPS ± 2).
    expect(Math.max(...lines.map((l) => l.fps))).toBeGreaterThanOrEqual(FPS - 3);
    expect(last).toMatchObject({ width: 320, height: 240, pixelFormat: 'PIXEL_FORMAT_JPEG' });
    expect(last.ageP99Ms).toBeLessThan(1000);
  });

  it('takes the token from FW_AUTH_TOKEN, and fails with one clear line without it', async () => {
    const args = ['--supplier', `127.0.0.1:${supplier.port}`, '--stream', 'cam-watch', '--seconds', '1', '--json'];
    const withEnv = await watch(args, { ...FW_ENV, FW_AUTH_TOKEN: TOKEN });
    expect(withEnv.code).toBe(0);
    expect(JSON.parse(withEnv.out.trim().split('\n').pop()!)).toMatchObject({ stream: 'cam-watch', width: 320 });
    // --help names the variable, never the secret in it.
    const help = await watch(['--help'], { ...FW_ENV, FW_AUTH_TOKEN: TOKEN });
    expect(help.out).toContain('--token <token>');
    expect(help.out).not.toContain(TOKEN);
    const without = await watch(args);
    expect(without.code).toBe(1);
    expect(without.err.trim().split('\n')).toEqual([expect.stringMatching(/^fw: .*missing bearer token/)]);
  });

  it('watches the supplier of npm start by default, following FW_START_BASE_PORT', async () => {
    const { code, out, err } = await watch(['--stream', 'cam-watch', '--seconds', '1', '--json'], { ...FW_ENV, FW_AUTH_TOKEN: TOKEN, FW_START_BASE_PORT: String(basePort) });
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toMatchObject({ stream: 'cam-watch', width: 320 });
  });

  it('fails with one line naming the address and the reason when it cannot reach the supplier in time', async () => {
    const { code, out, err } = await watch(['--supplier', '127.0.0.1:1', '--connect-timeout', '1', '--seconds', '10']);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err.trim().split('\n')).toEqual([expect.stringMatching(/^fw: cannot reach the supplier at 127\.0\.0\.1:1 within 1 s: UNAVAILABLE: .*ECONNREFUSED 127\.0\.0\.1:1$/)]);
  });
});
