import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayLine, pipelinePlan, planOptionsFrom } from './plan';
import { ReadinessTimeoutError, RestartTracker, ServiceSpec, StartupError, Supervisor, waitUntilServing } from './supervisor';

const policy = { initialDelayMs: 100, maxDelayMs: 1_000, stableAfterMs: 5_000, maxRapidCrashes: 4 };

describe('RestartTracker', () => {
  it('doubles the wait for each rapid crash up to the maximum', () => {
    const t = new RestartTracker({ ...policy, maxRapidCrashes: 10 });
    const delays = [1, 2, 3, 4, 5, 6].map(() => t.onExit(10, 1, null)).map((d) => (d.restart ? d.delayMs : -1));
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('starts the backoff again after a process that stayed up', () => {
    const t = new RestartTracker(policy);
    t.onExit(10, 1, null);
    t.onExit(10, 1, null);
    expect(t.onExit(60_000, 1, null)).toEqual({ restart: true, delayMs: 100, attempt: 1 });
  });

  it('gives up after the configured number of rapid crashes in a row, saying why', () => {
    const t = new RestartTracker(policy);
    for (let i = 0; i < 3; i++) expect(t.onExit(10, null, 'SIGKILL').restart).toBe(true);
    expect(t.onExit(10, null, 'SIGKILL')).toEqual({ restart: false, reason: 'it exited 4 times in a row within 5 s of starting (last: signal SIGKILL)' });
  });

  it('never restarts a service whose configuration is invalid (exit 78)', () => {
    expect(new RestartTracker(policy).onExit(10, 78, null)).toMatchObject({ restart: false, reason: expect.stringContaining('configuration is invalid') });
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('waitUntilServing', () => {
  let server: grpc.Server | undefined;
  afterEach(() => server?.forceShutdown());

  it('resolves once the server turns SERVING', async () => {
    server = new grpc.Server();
    const health = new HealthImplementation({ '': 'NOT_SERVING' });
    health.addToServer(server);
    const port = await new Promise<number>((res, rej) => server!.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));  
    setTimeout(() => health.setStatus('', 'SERVING'), 300);
    await expect(waitUntilServing(`127.0.0.1:${port}`, { timeoutMs: 5_000, intervalMs: 50 })).resolves.toBeUndefined();
  });

  it('fails with the last answer when nothing becomes SERVING in time', async () => {
    const port = await freePort();
    const waiting = waitUntilServing(`127.0.0.1:${port}`, { timeoutMs: 400, intervalMs: 50 });
    await expect(waiting).rejects.toThrow(ReadinessTimeoutError);
    await expect(waiting).rejects.toThrow(/did not report SERVING within 400 ms \(last: UNAVAILABLE/);
  });
});

describe('Supervisor', () => {
  jest.setTimeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'fw-supervisor-'));
  // A service stand-in: serves grpc.health.v1 SERVING on PORT; EXIT_AFTER_MS makes it crash,
  // IGNORE_TERM makes it ignore SIGTERM.
  const fixture = join(dir, 'service.js');
  writeFileSync(
    fixture,
    `const grpc = require(${JSON.stringify(require.resolve('@grpc/grpc-js'))});
const { HealthImplementation } = require(${JSON.stringify(require.resolve('grpc-health-check'))});
if (process.env.IGNORE_TERM) process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
if (process.env.EXIT_AT_ONCE) process.exit(2);
const server = new grpc.Server();
new HealthImplementation({ '': 'SERVING' }).addToServer(server);
server.bindAsync('127.0.0.1:' + process.env.PORT, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) { console.error(err.message); process.exit(1); }
  console.log('serving on ' + process.env.PORT);
  if (process.env.EXIT_AFTER_MS) setTimeout(() => process.exit(3), Number(process.env.EXIT_AFTER_MS));
});
`,
  );
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function spec(name: string, env: Record<string, string> = {}): Promise<ServiceSpec> {
    const port = await freePort();
    return { name, args: [fixture], env: { PATH: process.env.PATH ?? '', PORT: String(port), ...env }, healthAddress: `127.0.0.1:${port}` };
  }

  function recorder() {
    const events: string[] = [];
    const output: string[] = [];
    const fatal: string[] = [];
    return {
      events,
      output,
      fatal,
      options: {
        restart: { ...policy, initialDelayMs: 50 },
        startTimeoutMs: 5_000,
        stopTimeoutMs: 1_000,
        onOutput: (s: string, line: string) => output.push(`${s} | ${line}`),
        onEvent: (m: string) => events.push(m),
        onFatal: (m: string) => fatal.push(m),
      },
    };
  }

  async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('starts services in order, each once the previous is SERVING, and passes their output on', async () => {
    const r = recorder();
    const supervisor = new Supervisor([await spec('first'), await spec('second')], r.options);
    await supervisor.start();
    expect(r.events.filter((e) => /ready|started/.test(e)).map((e) => e.split(' (')[0])).toEqual(['first started', 'first ready', 'second started', 'second ready']);
    await until(() => r.output.length === 2, 'the output lines');
    expect(r.output.sort()).toEqual([expect.stringMatching(/^first \| serving on \d+$/), expect.stringMatching(/^second \| serving on \d+$/)]);
    await supervisor.stop('test');
    expect(Object.values(supervisor.pids()).every((pid) => pid !== undefined)).toBe(true);
  });

  it('restarts a crashed service with backoff and gives up after repeated rapid crashes', async () => {
    const r = recorder();
    const supervisor = new Supervisor([await spec('flaky', { EXIT_AFTER_MS: '300' })], r.options);
    await supervisor.start();
    await until(() => r.fatal.length === 1, 'giving up');
    expect(r.events.filter((e) => e.includes('restarting in')).map((e) => /restarting in (\d+) ms/.exec(e)?.[1])).toEqual(['50', '100', '200']);
    expect(r.fatal[0]).toBe('flaky exited (3) and is not restarted: it exited 4 times in a row within 5 s of starting (last: code 3)');
    await supervisor.stop('test');
  });

  it('fails start-up with a clear message when a service exits while starting, stopping the others', async () => {
    const r = recorder();
    const first = await spec('first');
    const supervisor = new Supervisor([first, await spec('broken', { EXIT_AT_ONCE: '1' })], r.options);
    await expect(supervisor.start()).rejects.toThrow(new StartupError('broken', 'broken exited (2) while starting; stopping everything'));
    const pid = supervisor.pids().first as number;
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('kills a service that ignores SIGTERM once the stop bound has passed', async () => {
    const r = recorder();
    const supervisor = new Supervisor([await spec('stubborn', { IGNORE_TERM: '1' })], r.options);
    await supervisor.start();
    const pid = supervisor.pids().stubborn as number;
    const started = Date.now();
    await supervisor.stop('test');
    // The kill timer may fire a few ms early by the wall clock (Node starts it from the loop's cached time).
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000 - 10);
    expect(r.events).toContain('stubborn still running 1000 ms after SIGTERM; killing it');
    expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe('the npm start plan', () => {
  const options = planOptionsFrom('/repo', { FW_AUTH_TOKEN: 'x'.repeat(16), FW_START_BASE_PORT: '41000', FW_HTTP_PORT: '41080' });

  it('runs supplier, gateway, capture and two workers in that order, each on its own port', () => {
    const plan = pipelinePlan(options);
    expect(plan.map((s) => [s.name, s.app, s.grpcPort])).toEqual([
      ['supplier', 'supplier', 41001],
      ['gateway', 'gateway', 41003],
      ['capture', 'capture', 41000],
      ['worker-1', 'worker', 41002],
      ['worker-2', 'worker', 41004],
    ]);
    for (const s of plan) {
      expect(s.env).toMatchObject({
        FW_GRPC_PORT: String(s.grpcPort),
        FW_SUPPLIER_ADDRESS: '127.0.0.1:41001',
        FW_GATEWAY_ADDRESS: '127.0.0.1:41003',
        FW_AUTH_TOKEN: 'x'.repeat(16),
        FW_LOG_FORMAT: 'text',
      });
      expect(s.args).toEqual(['--enable-source-maps', `/repo/dist/apps/${s.app}/src/main.js`]);
    }
    expect(plan[1].env).toMatchObject({ FW_HTTP_PORT: '41080', FW_CAPTURE_ADDRESSES: '127.0.0.1:41000' });
    expect(plan[2].env).toMatchObject({ FW_CAPTURE_SOURCE: 'synthetic', FW_CAPTURE_SHM_RING: 'framewire-cam-1' });
    expect(plan[4].env.FW_WORKER_ID).toBe('worker-2');
  });

  it('says where the gateway listens in one line', () => {
    expect(gatewayLine(options)).toBe(
      'framewire: gateway http://127.0.0.1:41080 (viewer /, REST /api, WebSocket /ws, metrics /metrics); gRPC 127.0.0.1:41003. Ctrl-C stops all.',
    );
  });

  it('refuses a port that is not one, naming the variable', () => {
    expect(() => planOptionsFrom('/repo', { FW_HTTP_PORT: 'eighty' })).toThrow('FW_HTTP_PORT: must be a port 1-65535 (got "eighty")');
  });
});
