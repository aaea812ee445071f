import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@framewire/testing';
import {
  decodeCheckResponse,
  encodeCheckRequest,
  EXIT_NOT_SERVING,
  EXIT_SERVING,
  EXIT_USAGE,
  probeHealth,
  ProbeReplyError,
  probeTargetFrom,
  ProbeUsageError,
} from './health-probe';

const PROBE = join(REPO_ROOT, 'dist/tools/health-probe/health-probe.js');
const FIXTURES = join(REPO_ROOT, 'libs/service-runtime/test-fixtures');
const CERT = join(FIXTURES, 'localhost.crt');
const KEY = join(FIXTURES, 'localhost.key');
const SERVICE = 'framewire.v1.FrameSupplier';

interface HealthServer {
  server: grpc.Server;
  health: HealthImplementation;
  port: number;
}

async function startHealthServer(credentials = grpc.ServerCredentials.createInsecure()): Promise<HealthServer> {
  const server = new grpc.Server();
  const health = new HealthImplementation({ '': 'SERVING', [SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))));
  return { server, health, port };
}

function runProbe(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PROBE, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 15_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

describe('health-probe messages', () => {
  it('encodes the request as protobuf does: empty for the whole server, field 1 for a name', () => {
    expect(encodeCheckRequest('')).toEqual(Buffer.alloc(0));
    expect(encodeCheckRequest('ab')).toEqual(Buffer.from([0x0a, 0x02, 0x61, 0x62]));
    const long = 'x'.repeat(200);
    expect(encodeCheckRequest(long).subarray(0, 3)).toEqual(Buffer.from([0x0a, 0xc8, 0x01]));
  });

  it('decodes the status, skipping unknown fields, and refuses malformed replies with a typed error', () => {
    expect(decodeCheckResponse(Buffer.alloc(0))).toBe(0);
    expect(decodeCheckResponse(Buffer.from([0x08, 0x01]))).toBe(1);
    expect(decodeCheckResponse(Buffer.from([0x12, 0x01, 0x7a, 0x08, 0x02, 0x1d, 0, 0, 0, 0]))).toBe(2);
    expect(() => decodeCheckResponse(Buffer.from([0x08]))).toThrow(ProbeReplyError);
    expect(() => decodeCheckResponse(Buffer.from([0x12, 0x05, 0x00]))).toThrow(/runs past the end/);
    expect(() => decodeCheckResponse(Buffer.from([0x0b]))).toThrow(/wire type 3/);
  });
});

describe('health-probe target', () => {
  it('asks the loopback at FW_GRPC_PORT when the service listens on every interface', () => {
    expect(probeTargetFrom([], { FW_GRPC_PORT: '50052' }).address).toBe('127.0.0.1:50052');
    expect(probeTargetFrom([], { FW_GRPC_PORT: '50052', FW_GRPC_HOST: '0.0.0.0' }).address).toBe('127.0.0.1:50052');
    expect(probeTargetFrom([], { FW_GRPC_PORT: '50052', FW_GRPC_HOST: '10.1.2.3' }).address).toBe('10.1.2.3:50052');
    expect(probeTargetFrom(['supplier:7000', '--service', SERVICE, '--deadline-ms', '500'], {})).toEqual({
      address: 'supplier:7000',
      service: SERVICE,
      deadlineMs: 500,
      tlsRootCerts: undefined,
    });
  });

  it('refuses a missing port, a bad address or deadline, naming what is wrong', () => {
    expect(() => probeTargetFrom([], {})).toThrow(ProbeUsageError);
    expect(() => probeTargetFrom([], { FW_GRPC_PORT: '0' })).toThrow(/FW_GRPC_PORT is "0"/);
    expect(() => probeTargetFrom(['nonsense'], {})).toThrow(/host:port/);
    expect(() => probeTargetFrom(['a:1', '--deadline-ms', 'soon'], {})).toThrow(/--deadline-ms/);
    expect(() => probeTargetFrom(['a:1', '--verbose'], {})).toThrow(/unexpected argument "--verbose"/);
    expect(() => probeTargetFrom([], { FW_GRPC_PORT: '1', FW_TLS_CERT: '/nonexistent.pem' })).toThrow(/FW_TLS_CERT: cannot read/);
  });

  it('trusts FW_TLS_CA, else the service certificate, when the service serves TLS', () => {
    expect(probeTargetFrom([], { FW_GRPC_PORT: '1', FW_TLS_CERT: CERT }).tlsRootCerts).toEqual(readFileSync(CERT));
    expect(probeTargetFrom([], { FW_GRPC_PORT: '1', FW_TLS_CERT: KEY, FW_TLS_CA: CERT }).tlsRootCerts).toEqual(readFileSync(CERT));
    expect(probeTargetFrom([], { FW_GRPC_PORT: '1', FW_TLS_CA: CERT }).tlsRootCerts).toBeUndefined();
  });
});

describe('health-probe against a real gRPC health service', () => {
  let plain: HealthServer;

  beforeAll(async () => {
    plain = await startHealthServer();
  });

  afterAll(() => plain.server.forceShutdown());

  it('reports SERVING, NOT_SERVING and an unknown service as the health service answers', async () => {
    const target = { address: `127.0.0.1:${plain.port}`, service: '', deadlineMs: 2_000 };
    expect(await probeHealth(target)).toMatchObject({ serving: true, status: 'SERVING' });
    expect(await probeHealth({ ...target, service: SERVICE })).toMatchObject({ serving: false, status: 'NOT_SERVING' });
    plain.health.setStatus(SERVICE, 'SERVING');
    expect(await probeHealth({ ...target, service: SERVICE })).toMatchObject({ serving: true, status: 'SERVING' });
    expect(await probeHealth({ ...target, service: 'no.such.Service' })).toMatchObject({ serving: false, status: expect.stringMatching(/^NOT_FOUND/) });
  });

  it('exits 0 when SERVING, 1 when not or unreachable, 2 for a bad command line (the compiled command)', async () => {
    const serving = await runProbe([], { FW_GRPC_PORT: String(plain.port) });
    expect(serving).toMatchObject({ code: EXIT_SERVING, stdout: `SERVING 127.0.0.1:${plain.port} (${serving.stdout.match(/\((\d+) ms\)/)?.[1]} ms)\n` });
    plain.health.setStatus('', 'NOT_SERVING');
    expect(await runProbe([`127.0.0.1:${plain.port}`])).toMatchObject({ code: EXIT_NOT_SERVING, stdout: expect.stringMatching(/^NOT_SERVING /) });
    plain.health.setStatus('', 'SERVING');
    const closed = await startHealthServer();
    closed.server.forceShutdown();
    const unreachable = await runProbe([`127.0.0.1:${closed.port}`, '--deadline-ms', '1000']);
    expect(unreachable).toMatchObject({ code: EXIT_NOT_SERVING, stdout: expect.stringMatching(/^(UNAVAILABLE|DEADLINE_EXCEEDED): /) });
    expect(await runProbe([])).toMatchObject({ code: EXIT_USAGE, stderr: expect.stringMatching(/FW_GRPC_PORT is unset/) });
  }, 30_000);

  it('speaks TLS to a service that serves TLS', async () => {
    const tls = await startHealthServer(grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(CERT), private_key: readFileSync(KEY) }], false));
    try {
      expect(await runProbe([], { FW_GRPC_PORT: String(tls.port), FW_TLS_CERT: CERT, FW_TLS_KEY: KEY })).toMatchObject({ code: EXIT_SERVING });
      // A plaintext probe cannot talk to it: the TLS variables are what makes it work.
      expect(await runProbe([`127.0.0.1:${tls.port}`, '--deadline-ms', '1000'])).toMatchObject({ code: EXIT_NOT_SERVING });
    } finally {
      tls.server.forceShutdown();
    }
  }, 30_000);
});
