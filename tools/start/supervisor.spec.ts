import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayLine, launcherSupplierAddress, pipelinePlan, planOptionsFrom, poolLine } from './plan';
import { ReadinessTimeoutError, RestartTracker, ServiceSpec, StartupError, Supervisor, checkServing, describeOutage, waitUntilServing } from './supervisor';

/** The test certificate for localhost and 127.0.0.1 (libs/service-runtime/test-fixtures). */
const TLS_FIXTURE = {
  cert: join(__dirname, '../../libs/service-runtime/test-fixtures/localhost.crt'),
  key: join(__dirname, '../../libs/service-runtime/test-fixtures/localhost.key'),
};

const policy = { initialDelayMs: 100, maxDelayMs: 1_000, stableAfterMs: 5_000 };

/** A clock the test moves by hand. */
function manualClock(startMs = 1_000_000) {
  const clock = { nowMs: startMs, now: () => clock.nowMs, advance: (ms: number) => (clock.nowMs += ms) };
  return clock;
}

describe('RestartTracker', () => {
  it('doubles the wait for each crash in a row up to the cap, and never gives up', () => {
    const clock = manualClock();
    const t = new RestartTracker(policy, clock.now);
    const decisions = Array.from({ length: 50 }, () => {
      t.started();
      clock.advance(10);
      return t.exited(1, null);
    });
    expect(decisions.every((d) => d.restart)).toBe(true);
    expect(decisions.slice(0, 7).map((d) => (d.restart ? d.delayMs : -1))).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
    expect(decisions[49]).toEqual({ restart: true, delayMs: 1_000, attempt: 50 });
  });

  it('starts the backoff again after a process that stayed up', () => {
    const clock = manualClock();
    const t = new RestartTracker(policy, clock.now);
    for (let i = 0; i < 2; i++) {
      t.started();
      clock.advance(10);
      t.exited(1, null);
    }
    t.started();
    clock.advance(policy.stableAfterMs);
    expect(t.exited(1, null)).toEqual({ restart: true, delayMs: 100, attempt: 1 });
  });

  it('never restarts a service whose configuration is invalid (exit 78), and keeps it down', () => {
    const clock = manualClock();
    const t = new RestartTracker(policy, clock.now);
    t.started();
    clock.advance(50);
    expect(t.exited(78, null)).toEqual({ restart: false, reason: 'its configuration is invalid (exit code 78); fix the variable it names and start again' });
    clock.advance(40_000);
    expect(t.outage()).toEqual({ downForMs: 40_000, restarts: 0, lastExit: 'code 78', nextRestartInMs: undefined, notRestarted: expect.stringContaining('configuration is invalid') });
  });

  it('is down from the first crash until a restarted process is ready, counting the restarts', () => {
    const clock = manualClock();
    const t = new RestartTracker(policy, clock.now);
    t.started();
    clock.advance(60_000);
    expect(t.outage()).toBeUndefined();
    t.exited(null, 'SIGKILL');
    clock.advance(30);
    expect(t.outage()).toEqual({ downForMs: 30, restarts: 1, lastExit: 'signal SIGKILL', nextRestartInMs: 70, notRestarted: undefined });
    clock.advance(70);
    t.started();
    clock.advance(5);
    t.exited(3, null);
    clock.advance(100);
    expect(t.outage()).toMatchObject({ downForMs: 205, restarts: 2, lastExit: 'code 3', nextRestartInMs: 100 });
    clock.advance(100);
    t.started();
    expect(t.outage()).toMatchObject({ restarts: 2, nextRestartInMs: undefined });
    clock.advance(400);
    expect(t.ready()).toMatchObject({ downForMs: 705, restarts: 2 });
    expect(t.outage()).toBeUndefined();
    // The next crash starts a new outage.
    clock.advance(10);
    t.exited(1, null);
    expect(t.outage()).toMatchObject({ downForMs: 0, restarts: 1 });
  });

  it('describes an outage in one line that says what happens next', () => {
    const base = { downForMs: 95_000, restarts: 12, lastExit: 'code 3', nextRestartInMs: 8_000, notRestarted: undefined };
    expect(describeOutage('worker-1', base)).toBe('worker-1 is down (95 s, last exit code 3): 12 restarts so far, next restart in 8.0 s; the other services keep running');
    expect(describeOutage('worker-1', { ...base, restarts: 1, nextRestartInMs: undefined })).toBe(
      'worker-1 is down (95 s, last exit code 3): 1 restart so far, a restarted process is starting; the other services keep running',
    );
    expect(describeOutage('capture', { ...base, downForMs: 4_200, restarts: 0, lastExit: 'code 78', nextRestartInMs: undefined, notRestarted: 'its configuration is invalid' })).toBe(
      'capture is down (4.2 s, last exit code 78): not restarted, its configuration is invalid; the other services keep running',
    );
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
  jest.setTimeout(90_000);
  /** Bound on a stand-in's crash loop and recovery (many process starts). */
  const CRASH_LOOP_BOUND_MS = 40_000;
  const dir = mkdtempSync(join(tmpdir(), 'fw-supervisor-'));
  // A service stand-in: serves grpc.health.v1 SERVING on PORT; EXIT_AFTER_MS makes it crash (exit
  // EXIT_CODE, default 3) that long after the first health check reached it (so a loaded machine that
  // is slow to ask never sees it exit while starting), and with CRASH_MARKER it leaves that file behind, which
  // makes every later run exit at once (a crash loop until the test removes the file);
  // EXIT_AT_ONCE exits 2 at start; IGNORE_TERM ignores SIGTERM; TLS_CERT and TLS_KEY serve TLS.
  const fixture = join(dir, 'service.js');
  writeFileSync(
    fixture,
    `const fs = require('node:fs');
const exitCode = Number(process.env.EXIT_CODE || 3);
if (process.env.EXIT_AT_ONCE) process.exit(2);
if (process.env.CRASH_MARKER && fs.existsSync(process.env.CRASH_MARKER)) process.exit(exitCode);
if (process.env.IGNORE_TERM) process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
const grpc = require(${JSON.stringify(require.resolve('@grpc/grpc-js'))});
const { HealthImplementation } = require(${JSON.stringify(require.resolve('grpc-health-check'))});
const server = new grpc.Server();
let exitTimer;
const exitLater = () => {
  if (!process.env.EXIT_AFTER_MS || exitTimer) return;
  exitTimer = setTimeout(() => {
    if (process.env.CRASH_MARKER) fs.writeFileSync(process.env.CRASH_MARKER, '');
    process.exit(exitCode);
  }, Number(process.env.EXIT_AFTER_MS));
};
const addService = server.addService.bind(server);
server.addService = (service, impl) => addService(service, { ...impl, check: (call, callback) => { exitLater(); impl.check(call, callback); } });
new HealthImplementation({ '': 'SERVING' }).addToServer(server);
const credentials = process.env.TLS_CERT
  ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: fs.readFileSync(process.env.TLS_CERT), private_key: fs.readFileSync(process.env.TLS_KEY) }], false)
  : grpc.ServerCredentials.createInsecure();
server.bindAsync('127.0.0.1:' + process.env.PORT, credentials, (err) => {
  if (err) { console.error(err.message); process.exit(1); }
  console.log('serving on ' + process.env.PORT);
});
`,
  );
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Every supervisor a test made is stopped, also when the test failed halfway.
  const supervisors: Supervisor[] = [];
  const supervise = (...args: ConstructorParameters<typeof Supervisor>): Supervisor => {
    const supervisor = new Supervisor(...args);
    supervisors.push(supervisor);
    return supervisor;
  };
  afterEach(async () => {
    await Promise.all(supervisors.splice(0).map((s) => s.stop('end of test')));
  });

  async function spec(name: string, env: Record<string, string> = {}): Promise<ServiceSpec> {
    const port = await freePort();
    return { name, args: [fixture], env: { PATH: process.env.PATH ?? '', PORT: String(port), ...env }, healthAddress: `127.0.0.1:${port}` };
  }

  function recorder() {
    const events: string[] = [];
    const output: string[] = [];
    const alerts: string[] = [];
    return {
      events,
      output,
      alerts,
      options: {
        restart: { ...policy, initialDelayMs: 50, maxDelayMs: 200 },
        outageReportIntervalMs: 300,
        startTimeoutMs: 5_000,
        stopTimeoutMs: 1_000,
        onOutput: (s: string, line: string) => output.push(`${s} | ${line}`),
        onEvent: (m: string) => events.push(m),
        onAlert: (m: string) => alerts.push(m),
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
    const supervisor = supervise([await spec('first'), await spec('second')], r.options);
    await supervisor.start();
    expect(r.events.filter((e) => /ready|started/.test(e)).map((e) => e.split(' (')[0])).toEqual(['first started', 'first ready', 'second started', 'second ready']);
    await until(() => r.output.length === 2, 'the output lines');
    expect(r.output.sort()).toEqual([expect.stringMatching(/^first \| serving on \d+$/), expect.stringMatching(/^second \| serving on \d+$/)]);
    await supervisor.stop('test');
    expect(Object.values(supervisor.pids()).every((pid) => pid !== undefined)).toBe(true);
  });

  it('keeps restarting a crash-looping service with capped backoff while the others keep running', async () => {
    const r = recorder();
    const marker = join(dir, 'flaky.crashed');
    const steady = await spec('steady');
    const flaky = await spec('flaky', { EXIT_AFTER_MS: '300', CRASH_MARKER: marker });
    const later = await spec('later');
    const supervisor = supervise([steady, flaky, later], r.options);
    await supervisor.start();
    const before = supervisor.pids();
    // Well past the five rapid crashes after which the old supervisor stopped everything.
    const restarts = () => r.alerts.filter((a) => a.startsWith('flaky exited'));
    // Each restart spawns a process: on a loaded machine that alone may take a second.
    await until(() => restarts().length >= 8, 'eight restarts of flaky', CRASH_LOOP_BOUND_MS);
    expect(restarts().slice(0, 8).map((a) => /^flaky exited \(3\); restarting in (\d+) ms \(attempt (\d+)\)$/.exec(a)?.slice(1))).toEqual([
      ['50', '1'],
      ['100', '2'],
      ['200', '3'],
      ['200', '4'],
      ['200', '5'],
      ['200', '6'],
      ['200', '7'],
      ['200', '8'],
    ]);
    await until(() => r.alerts.some((a) => a.startsWith('flaky is down')), 'an outage report');
    expect(r.alerts.find((a) => a.startsWith('flaky is down'))).toMatch(/^flaky is down \([\d.]+ s, last exit code 3\): \d+ restarts? so far, .*; the other services keep running$/);
    // The healthy services kept their processes and serve.
    for (const service of [steady, later]) {
      expect(supervisor.pids()[service.name]).toBe(before[service.name]);
      expect(await checkServing(service.healthAddress)).toBe('SERVING');
    }
    expect(Object.keys(supervisor.outages())).toEqual(['flaky']);
    // Once the cause is gone the next restart sticks, and the outage ends.
    rmSync(marker);
    await until(() => r.events.some((e) => e.startsWith('flaky ready again')), 'flaky to recover', CRASH_LOOP_BOUND_MS);
    expect(r.events.find((e) => e.startsWith('flaky ready again'))).toMatch(/^flaky ready again \(pid \d+, gRPC 127\.0\.0\.1:\d+\) after \d+ restarts, down [\d.]+ s$/);
    expect(supervisor.outages()).toEqual({});
    await supervisor.stop('test');
  });

  it('does not restart a service that exits with 78 (invalid configuration), and keeps the others running', async () => {
    const r = recorder();
    const steady = await spec('steady');
    const supervisor = supervise([steady, await spec('misconfigured', { EXIT_AFTER_MS: '300', EXIT_CODE: '78' })], r.options);
    await supervisor.start();
    const steadyPid = supervisor.pids().steady;
    await until(() => r.alerts.some((a) => a.startsWith('misconfigured is down')), 'an outage report');
    expect(r.alerts[0]).toBe(
      'misconfigured exited (78) and is not restarted: its configuration is invalid (exit code 78); fix the variable it names and start again; the other services keep running',
    );
    expect(r.alerts.find((a) => a.startsWith('misconfigured is down'))).toMatch(/: not restarted, its configuration is invalid .*; the other services keep running$/);
    expect(r.events.filter((e) => e.startsWith('misconfigured started'))).toHaveLength(1);
    expect(supervisor.pids().steady).toBe(steadyPid);
    expect(await checkServing(steady.healthAddress)).toBe('SERVING');
    await supervisor.stop('test');
  });

  it('asks a service that serves TLS over TLS, trusting the certificates it is given', async () => {
    const r = recorder();
    const tls = await spec('tls', { TLS_CERT: TLS_FIXTURE.cert, TLS_KEY: TLS_FIXTURE.key });
    const supervisor = supervise([tls], { ...r.options, tlsRootCerts: readFileSync(TLS_FIXTURE.cert) });
    await supervisor.start();
    expect(r.events).toContain(`tls ready (pid ${supervisor.pids().tls}, gRPC ${tls.healthAddress})`);
    await supervisor.stop('test');
  });

  it('fails start-up with a clear message when a service exits while starting, stopping the others', async () => {
    const r = recorder();
    const first = await spec('first');
    const supervisor = supervise([first, await spec('broken', { EXIT_AT_ONCE: '1' })], r.options);
    await expect(supervisor.start()).rejects.toThrow(new StartupError('broken', 'broken exited (2) while starting; stopping everything'));
    const pid = supervisor.pids().first as number;
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('kills a service that ignores SIGTERM once the stop bound has passed', async () => {
    const r = recorder();
    const supervisor = supervise([await spec('stubborn', { IGNORE_TERM: '1' })], r.options);
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
      // Each service stops when the launcher ends (the launcher link's preload).
      expect(s.args).toEqual(['--require', '/repo/dist/tools/start/launcher-link-preload.js', '--enable-source-maps', `/repo/dist/apps/${s.app}/src/main.js`]);
    }
    expect(plan[1].env).toMatchObject({ FW_HTTP_PORT: '41080', FW_CAPTURE_ADDRESSES: '127.0.0.1:41000' });
    expect(plan[2].env).toMatchObject({ FW_CAPTURE_SOURCE: 'synthetic', FW_CAPTURE_SHM_RING: 'framewire-cam-1' });
    expect(plan[4].env.FW_WORKER_ID).toBe('worker-2');
  });

  it('tells the gateway which workers must be healthy and the supplier which to keep slots for: the ones it starts, unless the caller says otherwise', () => {
    expect(pipelinePlan(options)[1].env.FW_HEALTH_EXPECTED_WORKERS).toBe('worker-1,worker-2');
    expect(pipelinePlan(options)[0].env.FW_SUPPLIER_RESERVED_WORKERS).toBe('worker-1,worker-2');
    const chosen = planOptionsFrom('/repo', { FW_HEALTH_EXPECTED_WORKERS: 'worker-2' });
    expect(pipelinePlan(chosen)[1].env.FW_HEALTH_EXPECTED_WORKERS).toBe('worker-2');
  });

  it('gives tools the supplier address that follows FW_GRPC_HOST and FW_START_BASE_PORT', () => {
    expect(launcherSupplierAddress({})).toBe('127.0.0.1:50052');
    expect(launcherSupplierAddress({ FW_START_BASE_PORT: '41000' })).toBe(`127.0.0.1:${pipelinePlan(options)[0].grpcPort}`);
    expect(launcherSupplierAddress({ FW_GRPC_HOST: '10.0.0.5', FW_START_BASE_PORT: '41000' })).toBe('10.0.0.5:41001');
    expect(() => launcherSupplierAddress({ FW_START_BASE_PORT: '65534' })).toThrow('FW_START_BASE_PORT: 65534 + 4 exceeds 65535');
  });

  it('makes the two workers members of pool "analysis" (sticky, all streams) and says so, unless FW_WORKER_POOL says otherwise', () => {
    for (const worker of pipelinePlan(options).slice(3)) expect(worker.env).toMatchObject({ FW_WORKER_POOL: 'analysis', FW_WORKER_POOL_MODE: 'sticky', FW_WORKER_STREAMS: '*' });
    expect(poolLine(options)).toBe(
      'framewire: worker-1, worker-2 are members of worker pool "analysis" (sticky, all streams): each stream is analysed by one of them, the others stand by. FW_WORKER_POOL= npm start runs them without a pool.',
    );
    const shared = planOptionsFrom('/repo', { FW_WORKER_POOL: 'cams', FW_WORKER_POOL_MODE: 'shared' });
    expect(pipelinePlan(shared)[3].env).toMatchObject({ FW_WORKER_POOL: 'cams', FW_WORKER_POOL_MODE: 'shared' });
    expect(poolLine(shared)).toContain('"cams" (shared, all streams): each frame is analysed by one of them');
    const none = planOptionsFrom('/repo', { FW_WORKER_POOL: '' });
    expect(pipelinePlan(none)[3].env.FW_WORKER_POOL).toBe('');
    expect(pipelinePlan(none)[3].env.FW_WORKER_STREAMS).toBeUndefined();
    expect(poolLine(none)).toBeUndefined();
  });

  it('gives each worker its own analyzers when FW_START_WORKER_ANALYZERS lists them, and refuses a list per worker that does not fit', () => {
    const demo = pipelinePlan(planOptionsFrom('/repo', { FW_START_WORKER_ANALYZERS: 'detect,tracks; pose,person-seg', FW_WORKER_ANALYZERS: 'motion' }));
    expect(demo.slice(3).map((w) => [w.name, w.env.FW_WORKER_ANALYZERS])).toEqual([
      ['worker-1', 'detect,tracks'],
      ['worker-2', 'pose,person-seg'],
    ]);
    expect(pipelinePlan(options)[3].env.FW_WORKER_ANALYZERS).toBeUndefined();
    expect(() => planOptionsFrom('/repo', { FW_START_WORKER_ANALYZERS: 'detect' })).toThrow('FW_START_WORKER_ANALYZERS: must be 2 analyzer lists separated by ";" (one per worker: worker-1, worker-2), got "detect"');
    expect(() => planOptionsFrom('/repo', { FW_START_WORKER_ANALYZERS: 'detect;' })).toThrow(/FW_START_WORKER_ANALYZERS/);
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
