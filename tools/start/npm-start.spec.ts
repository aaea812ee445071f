// `npm start` for real: node tools/start.mjs runs the five processes, says where the gateway is,
// restarts a killed worker, and stops everything on SIGINT with exit code 0.
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { checkServing, waitUntilServing } from './supervisor';

const ROOT = resolve(__dirname, '../..');
const SERVICES = ['supplier', 'gateway', 'capture', 'worker-1', 'worker-2'];

async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((res) => {
    server.once('error', () => res(false));
    server.listen(port, '127.0.0.1', () => server.close(() => res(true)));
  });
}

/** A base port with the five after it free (the plan uses base .. base + 4). */
async function freeBlock(size: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 42_000 + Math.floor(Math.random() * 8_000);
    let ok = true;
    for (let p = base; p < base + size && ok; p++) ok = await isFree(p);
    if (ok) return base;
  }
  throw new Error('no block of free ports');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start (tools/start.mjs)', () => {
  jest.setTimeout(120_000);
  const archive = mkdtempSync(join(tmpdir(), 'fw-npm-start-'));
  let start: ChildProcess | undefined;
  const lines: string[] = [];

  afterAll(async () => {
    // On a failure, stop what was started: the supervisor first, then any service it left (services
    // run in their own process groups, so they outlive a killed supervisor).
    if (start && start.exitCode === null) {
      const exited = once(start, 'exit');
      start.kill('SIGINT');
      const timer = setTimeout(() => start?.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    for (const l of lines) {
      const m = /^framewire: \S+ started \(pid (\d+)\)$/.exec(l);
      if (m && alive(Number(m[1]))) process.kill(Number(m[1]), 'SIGKILL');
    }
    rmSync(archive, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  });

  /** The first line from index `from` on that matches. */
  async function line(pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const l of lines.slice(from)) {
        const m = pattern.exec(l);
        if (m) return m;
      }
      if (Date.now() > deadline || (start && start.exitCode !== null)) {
        throw new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${lines.slice(-60).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('starts every service health-gated, restarts a killed worker, and stops all on SIGINT', async () => {
    const base = await freeBlock(5);
    const httpPort = await freeBlock(1);
    const metricsPort = await freeBlock(1);
    start = spawn(process.execPath, [join(ROOT, 'tools/start.mjs')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        FW_START_BASE_PORT: String(base),
        FW_HTTP_PORT: String(httpPort),
        FW_METRICS_PORT: String(metricsPort),
        FW_CAPTURE_SHM_RING: `fw-npm-start-${process.pid}`,
        FW_ARCHIVE_DIR: archive,
        FW_SHUTDOWN_TIMEOUT_MS: '5000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [start.stdout, start.stderr]) if (stream) createInterface({ input: stream }).on('line', (l) => lines.push(l));

    await line(/^framewire: gateway http:\/\/127\.0\.0\.1:(\d+) \(viewer \/, REST \/api, WebSocket \/ws, metrics \/metrics\); gRPC 127\.0\.0\.1:(\d+)/, 90_000);
    expect(lines.find((l) => l.startsWith('framewire: gateway http'))).toBe(
      `framewire: gateway http://127.0.0.1:${httpPort} (viewer /, REST /api, WebSocket /ws, metrics /metrics); gRPC 127.0.0.1:${base + 3}. Ctrl-C stops all.`,
    );
    const ready = (await line(/^framewire: all services ready: (.*)$/, 1_000))[1];
    const pids = Object.fromEntries(ready.split(', ').map((p) => /^(\S+) pid (\d+)$/.exec(p)!.slice(1)).map(([n, pid]) => [n, Number(pid)]));  
    expect(Object.keys(pids)).toEqual(SERVICES);
    const ports: Record<string, number> = { capture: base, supplier: base + 1, 'worker-1': base + 2, gateway: base + 3, 'worker-2': base + 4 };
    for (const name of SERVICES) expect({ name, status: await checkServing(`127.0.0.1:${ports[name]}`) }).toEqual({ name, status: 'SERVING' });
    // The gateway serves the viewer page and its script.
    const page = await fetch(`http://127.0.0.1:${httpPort}/`, { signal: AbortSignal.timeout(10_000) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('<script src="viewer.js">');
    const script = await fetch(`http://127.0.0.1:${httpPort}/viewer.js`, { signal: AbortSignal.timeout(10_000) });
    expect(script.status).toBe(200);
    expect((await script.text()).length).toBeGreaterThan(1000);
    // Every service's lines carry its name.
    for (const name of SERVICES) expect(lines.some((l) => l.startsWith(`${name.padEnd(8)} | `))).toBe(true);

    const killedAt = lines.length;
    process.kill(pids['worker-1'], 'SIGKILL');
    await line(/^framewire: worker-1 exited \(SIGKILL\); restarting in \d+ ms \(attempt 1\)$/, 10_000, killedAt);
    const restarted = Number((await line(/^framewire: worker-1 started \(pid (\d+)\)$/, 10_000, killedAt))[1]);
    expect(restarted).not.toBe(pids['worker-1']);
    await waitUntilServing(`127.0.0.1:${ports['worker-1']}`, { timeoutMs: 20_000 });

    const exited = once(start, 'exit');
    start.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    for (const pid of [...Object.values(pids), restarted]) expect({ pid, alive: alive(pid) }).toEqual({ pid, alive: false });
    // Stopped gracefully: no service took SIGTERM as a second signal.
    expect(lines.filter((l) => l.includes('second signal'))).toEqual([]);
  });
});
