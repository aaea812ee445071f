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
import {
  http,
  knownServiceNames,
  listReflectedServices,
  mainOf,
  methodStatuses,
  REPO_ROOT,
  ServiceProcess,
  startServiceProcess,
  stopServiceProcess,
  waitFor,
} from '@framewire/testing';
import { Pipeline, startPipeline } from '../support/pipeline';

const TOKEN = 'adversarial-token-0123456789abcdef';
const FIXTURES = join(REPO_ROOT, 'libs/service/test-fixtures');
const CERT = join(FIXTURES, 'localhost.crt');
const KEY = join(FIXTURES, 'localhost.key');
const APPS = ['capture', 'supplier', 'worker', 'gateway'] as const;

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
    // Nothing to reach: the service's clients retry in the background, its port serves on.
    service = await startServiceProcess(app, { FW_ARCHIVE: 'off', FW_GATEWAY_ADDRESS: '', FW_SUPPLIER_ADDRESS: '127.0.0.1:1' });
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
