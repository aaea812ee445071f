// Hostile input against the runtime every service shares (issue 14, defects 4, 10 and 12), on real
// service processes over loopback: secrets in logs and error messages, what server reflection lists,
// JSON built to exhaust a parser, and connections that never finish opening or sit idle on the gRPC
// and HTTP ports. Bounded in time and traffic.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CommandRouterClient } from '@framewire/proto';
import {
  checkHealth,
  http,
  idleHttp2Connection,
  knownServiceNames,
  listReflectedServices,
  mainOf,
  methodStatuses,
  REPO_ROOT,
  ServiceProcess,
  silentConnection,
  startServiceProcess,
  stopServiceProcess,
  waitFor,
  watchHealth,
} from '@framewire/testing';
import { Pipeline, startPipeline } from '../support/pipeline';

const TOKEN = 'adversarial-token-0123456789abcdef';
const FIXTURES = join(REPO_ROOT, 'libs/service-runtime/test-fixtures');
const CERT = join(FIXTURES, 'localhost.crt');
const KEY = join(FIXTURES, 'localhost.key');
const APPS = ['capture', 'supplier', 'worker', 'gateway'] as const;
/** Nothing to reach: the service's clients retry in the background, its ports serve on. */
const ALONE_ENV = { FW_ARCHIVE: 'off', FW_GATEWAY_ADDRESS: '', FW_SUPPLIER_ADDRESS: '127.0.0.1:1', FW_CAPTURE_ADDRESSES: '127.0.0.1:1' };

/** The ways a private key's bytes could show up in text: its PEM body lines, and the file's bytes
 *  as a JSON Buffer would print them. */
function keyFingerprints(): string[] {
  const pem = readFileSync(KEY);
  const body = pem
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('-----'));
  return [...body, [...pem.subarray(0, 16)].join(','), pem.subarray(40, 56).toString('hex')];
}

describe('secrets never reach a log line or an error message', () => {
  let archiveDir: string;
  let pipeline: Pipeline;

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'fw-adversarial-runtime-'));
    // Every service with the token and TLS, and each trusting the others' certificate.
    pipeline = await startPipeline({
      streamId: 'cam-secrets',
      fps: 10,
      width: 160,
      height: 120,
      archiveDir,
      token: TOKEN,
      workers: ['worker-1'],
      env: { FW_TLS_CERT: CERT, FW_TLS_KEY: KEY, FW_TLS_CA: CERT },
    });
  }, 90_000);

  afterAll(async () => {
    await pipeline?.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  }, 60_000);

  it('keeps the token and the TLS key out of every service output, start to stop', async () => {
    // Results flowing means each service used the token and the key (TLS with the token at every hop).
    await waitFor(
      'results of worker-1 at the gateway',
      async () => ((await http(`${pipeline.httpUrl}/api/stats`)).body.workers ?? []).some((w: { workerId: string }) => w.workerId === 'worker-1'),
      30_000,
    );
    const outputs = [...pipeline.services.entries()];
    await pipeline.stop();
    for (const [name, service] of outputs) {
      const text = service.output.join('\n');
      expect(text).toContain('"token":"set (34 characters)"');
      expect(text).toMatch(/"privateKey":"set \(\d+ bytes, from [^"]*localhost\.key\)"/);
      expect({ name, hasToken: text.includes(TOKEN) }).toEqual({ name, hasToken: false });
      for (const fingerprint of keyFingerprints()) expect({ name, fingerprint, found: text.includes(fingerprint) }).toEqual({ name, fingerprint, found: false });
    }
  }, 60_000);

  it.each(APPS)('%s refuses a short token naming its length, not the token', (app) => {
    const short = 'hunter2-short';
    const r = spawnSync(process.execPath, [mainOf(app)], {
      env: { PATH: process.env.PATH ?? '', FW_AUTH_TOKEN: short, FW_GRPC_PORT: '0' },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(r.status).toBe(78);
    expect(r.stderr).toContain(`FW_AUTH_TOKEN: must be at least 16 characters (got ${short.length} characters)`);
    expect(r.stdout + r.stderr).not.toContain(short);
  });

  it('capture keeps a camera URL\'s password out of its output, ffmpeg\'s complaints included', async () => {
    const password = 'camera-password-1234';
    const capture = await startServiceProcess('capture', { ...ALONE_ENV, FW_CAPTURE_SOURCE: `ffmpeg:rtsp://admin:${password}@127.0.0.1:1/stream` });
    try {
      // ffmpeg cannot reach the camera; capture reports it and retries.
      await waitFor('the source failure', () => capture.output.some((line) => line.includes('"source failed"')), 30_000);
    } finally {
      await stopServiceProcess(capture);
    }
    const text = capture.output.join('\n');
    expect(text).toContain('rtsp://admin:***@127.0.0.1:1/stream');
    expect(text).not.toContain(password);
  }, 60_000);

  it('fw frames watch prints neither --token nor $FW_AUTH_TOKEN', async () => {
    const fw = spawn(
      process.execPath,
      [join(REPO_ROOT, 'tools/fw/bin/fw.js'), 'frames', 'watch', '--supplier', '127.0.0.1:1', '--seconds', '1', '--token', TOKEN],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', FW_AUTH_TOKEN: `${TOKEN}-env` } },
    );
    let printed = '';
    fw.stdout.on('data', (c: Buffer) => (printed += c.toString()));
    fw.stderr.on('data', (c: Buffer) => (printed += c.toString()));
    await once(fw, 'exit');
    expect(printed).not.toContain(TOKEN);
  }, 20_000);
});

describe('server reflection lists exactly what each port answers', () => {
  const STANDARD = ['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
  const OWN: Record<(typeof APPS)[number], string[]> = {
    capture: [],
    supplier: ['framewire.v1.FrameSupplier'],
    worker: [],
    gateway: ['framewire.v1.ResultHub', 'framewire.v1.CommandRouter'],
  };
  let service: ServiceProcess | undefined;

  afterEach(async () => {
    if (service) await stopServiceProcess(service);
    service = undefined;
  });

  it.each(APPS)('%s', async (app) => {
    service = await startServiceProcess(app, ALONE_ENV);
    const listed = await listReflectedServices(service.port);
    expect([...listed].sort()).toEqual([...OWN[app], ...STANDARD].sort());
    for (const name of knownServiceNames()) {
      const statuses = Object.values(await methodStatuses(service.port, name));
      const unimplemented = statuses.filter((code) => code === grpc.status.UNIMPLEMENTED).length;
      // A listed service answers every method; an unlisted one answers none.
      expect({ name, listed: listed.includes(name), unimplemented }).toEqual({ name, listed: listed.includes(name), unimplemented: listed.includes(name) ? 0 : statuses.length });
    }
  }, 60_000);
});

/** Bounds small enough for a test, given to the services through their environment; every wait
 *  below is far longer, so a loaded machine does not fail them, and far shorter than what a service
 *  without the bounds does (never, or Node's 60 s for an HTTP request head). */
const LIMITS_ENV = { FW_HANDSHAKE_TIMEOUT_MS: '500', FW_IDLE_TIMEOUT_MS: '1000', FW_KEEPALIVE_MS: '500' };
const WAIT_MS = 10_000;

describe('connections that never finish opening, or open and idle', () => {
  const running: ServiceProcess[] = [];
  const start = async (app: string, env: Record<string, string>, listeners?: string[]) => {
    const service = await startServiceProcess(app, { ...ALONE_ENV, ...LIMITS_ENV, ...env }, listeners ? { listeners } : {});
    running.push(service);
    return service;
  };

  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => stopServiceProcess(s)));
  });

  it.each(APPS)('%s closes a gRPC connection that sends nothing, one that is not HTTP/2, and one that makes no call', async (app) => {
    const service = await start(app, {});
    const fates = await Promise.all([
      silentConnection(service.port, { waitMs: WAIT_MS }),
      silentConnection(service.port, { send: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', waitMs: WAIT_MS }),
      idleHttp2Connection(service.port, { waitMs: WAIT_MS }),
    ]);
    expect(fates).toEqual(['closed by the server', 'closed by the server', 'closed by the server']);
    // And it still serves.
    expect(await checkHealth(service.port)).toBe('SERVING');
  }, 60_000);

  it('closes TLS connections that stall before or after the handshake, or idle after it', async () => {
    const cert = readFileSync(CERT);
    const service = await start('supplier', { FW_TLS_CERT: CERT, FW_TLS_KEY: KEY });
    const fates = await Promise.all([
      silentConnection(service.port, { waitMs: WAIT_MS }),
      silentConnection(service.port, { tlsCa: cert, waitMs: WAIT_MS }),
      idleHttp2Connection(service.port, { tlsCa: cert, waitMs: WAIT_MS }),
    ]);
    expect(fates).toEqual(['closed by the server', 'closed by the server', 'closed by the server']);
  }, 60_000);

  it('refuses gRPC connections beyond FW_MAX_CONNECTIONS', async () => {
    const service = await start('supplier', { FW_MAX_CONNECTIONS: '2', FW_HANDSHAKE_TIMEOUT_MS: '60000' });
    const held = [silentConnection(service.port, { waitMs: WAIT_MS }), silentConnection(service.port, { waitMs: WAIT_MS })];
    await new Promise((r) => setTimeout(r, 200));
    await expect(silentConnection(service.port, { waitMs: WAIT_MS })).resolves.toBe('closed by the server');
    await stopServiceProcess(service);
    await Promise.all(held);
  }, 60_000);

  it('keeps a stream open far past the idle bound while it is in use', async () => {
    const service = await start('supplier', {});
    const watch = watchHealth(`127.0.0.1:${service.port}`);
    const statuses = watch.statuses;
    await waitFor('the first status', () => statuses.length > 0, WAIT_MS);
    await new Promise((r) => setTimeout(r, 5 * Number(LIMITS_ENV.FW_IDLE_TIMEOUT_MS)));
    // Stopping, the service reports NOT_SERVING on every open Watch: this one is still open.
    const stopped = stopServiceProcess(service);
    await waitFor('NOT_SERVING on the stream', () => statuses.includes('NOT_SERVING'), WAIT_MS);
    await stopped;
    watch.cancel();
    expect(statuses).toEqual(['SERVING', 'NOT_SERVING']);
  }, 60_000);

  it.each([
    ['the gateway', 'gateway', ['gRPC', 'HTTP'], 'HTTP'],
    ['the supplier metrics', 'supplier', ['gRPC', 'metrics'], 'metrics'],
  ])('%s HTTP port closes a request whose head never ends, and refuses connections beyond the cap', async (_name, app, listeners, listener) => {
    const service = await start(app, { FW_MAX_CONNECTIONS: '3' }, listeners);
    const port = service.ports[listener];
    const fates = await Promise.all([
      silentConnection(port, { send: 'GET /metrics HTTP/1.1\r\nHost: x\r\n', waitMs: WAIT_MS }),
      silentConnection(port, { send: 'GET /metrics HTTP/1.1\r\nHost: x\r\n', waitMs: WAIT_MS }),
      silentConnection(port, { send: 'GET /metrics HTTP/1.1\r\nHost: x\r\n', waitMs: WAIT_MS }),
      new Promise((r) => setTimeout(r, 200)).then(() => silentConnection(port, { waitMs: WAIT_MS })),
    ]);
    expect(fates).toEqual(['closed by the server', 'closed by the server', 'closed by the server', 'closed by the server']);
    expect((await http(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
  }, 60_000);
});

describe('JSON built to exhaust a parser', () => {
  let gateway: ServiceProcess;
  const DEEP = '['.repeat(20_000) + ']'.repeat(20_000);

  beforeAll(async () => {
    gateway = await startServiceProcess('gateway', ALONE_ENV, { listeners: ['gRPC', 'HTTP'] });
  });
  afterAll(async () => {
    await stopServiceProcess(gateway);
  });

  it('answers 400 naming the body, with no stack trace, for a command nested 20,000 deep in under 64 KiB', async () => {
    const body = `{"requestId":"deep","target":"capture","type":"capture.pause","payload":{"a":${DEEP}}}`;
    expect(body.length).toBeLessThan(64 * 1024);
    const reply = await http(`http://127.0.0.1:${gateway.ports.HTTP}/api/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({ error: 'the body nests objects and arrays deeper than 32 levels', field: 'body' });
    expect(await checkHealth(gateway.port)).toBe('SERVING');
  });

  it('answers INVALID_ARGUMENT naming payload_json for the same payload over gRPC', async () => {
    const client = new CommandRouterClient(`127.0.0.1:${gateway.port}`, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.sendCommand({ command: { requestId: 'deep', target: 'capture', type: 'capture.pause', payloadJson: `{"a":${DEEP}}`, timeoutMs: 0 } }, (e) => resolve(e)),
    );
    client.close();
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err?.details).toContain('payload_json nests deeper than 16 levels');
  });
});
