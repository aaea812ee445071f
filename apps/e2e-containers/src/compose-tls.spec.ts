// docker/compose.yaml with docker/compose.tls.yaml and a token: every gRPC connection between the
// containers is TLS (frames capture -> supplier -> worker, results, commands, health probes), and
// the doors from the host demand TLS and the token where docs/security.md says they do.
import * as grpc from '@grpc/grpc-js';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { defaultComposeFile, describeWithDocker, FramewireStack, startFramewireStack } from '@framewire/containers';
import { Result, ResultHubClient } from '@framewire/proto';
import { tokenMetadata } from '@framewire/grpc-client';
import { secretText } from '@framewire/service-runtime';
import { REPO_ROOT } from '@framewire/testing';
import { postCommand, waitFor } from '@framewire/testing';
import { ensureImages } from './support/clients';

const TOKEN = 'compose-tls-token-0123456789';
const FIXTURES = join(REPO_ROOT, 'libs/service-runtime/test-fixtures');
const STACK_HEALTHY_BOUND_MS = 180_000;

/** Results from SubscribeResults with `credentials`, or the error the call ended with. */
async function firstResults(address: string, credentials: grpc.ChannelCredentials, count: number): Promise<Result[] | grpc.ServiceError> {
  const client = new ResultHubClient(address, credentials);
  const call = client.subscribeResults({ streamId: 'cam-1', workerId: '', kinds: [] }, tokenMetadata(secretText(TOKEN)), { deadline: Date.now() + 30_000 });
  const results: Result[] = [];
  try {
    return await new Promise((resolve) => {
      call.on('data', (r: { result?: Result }) => {
        if (r.result) results.push(r.result);
        if (results.length === count) resolve(results);
      });
      call.on('error', (err: grpc.ServiceError) => resolve(err));
    });
  } finally {
    call.cancel();
    client.close();
  }
}

describeWithDocker('the compose stack with TLS and a token (docker/compose.tls.yaml)', () => {
  let stack: FramewireStack;
  const tlsDir = mkdtempSync(join(tmpdir(), 'fw-compose-tls-'));

  beforeAll(async () => {
    ensureImages();
    // The test certificate names localhost only: the services dial each other by service name,
    // so they are told which name to expect (FW_TLS_SERVER_NAME). A self-signed certificate is its
    // own CA. Readable by uid 1000, the services' user.
    copyFileSync(join(FIXTURES, 'localhost.crt'), join(tlsDir, 'fw.crt'));
    copyFileSync(join(FIXTURES, 'localhost.key'), join(tlsDir, 'fw.key'));
    copyFileSync(join(FIXTURES, 'localhost.crt'), join(tlsDir, 'ca.crt'));
    for (const f of ['fw.crt', 'fw.key', 'ca.crt']) chmodSync(join(tlsDir, f), 0o644);
    chmodSync(tlsDir, 0o755);
    stack = await startFramewireStack({
      workers: 1,
      overrideFiles: [join(dirname(defaultComposeFile()), 'compose.tls.yaml')],
      variables: { FW_TLS_DIR: tlsDir, FW_TLS_SERVER_NAME: 'localhost', FW_AUTH_TOKEN: TOKEN },
      startTimeoutMs: STACK_HEALTHY_BOUND_MS,
    });
  }, STACK_HEALTHY_BOUND_MS + 60_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(tlsDir, { recursive: true, force: true });
  }, 120_000);

  it('flows end to end over TLS: every container healthy through its TLS probe, results at the gateway', async () => {
    // startFramewireStack waited for every health check (the probes speak TLS) and /api/health 200,
    // which needs frames at the supplier and a worker's results at the gateway.
    const health = await stack.waitForHealth(200, 30_000);
    expect(health.body.checks.every((c) => c.ok)).toBe(true);
    const cert = readFileSync(join(tlsDir, 'ca.crt'));
    const overTls = await firstResults(stack.gatewayAddress, grpc.credentials.createSsl(cert), 5);
    expect(Array.isArray(overTls) && overTls.every((r) => r.streamId === 'cam-1')).toBe(true);
    // A plaintext client cannot talk to the TLS-only gRPC server.
    const plaintext = await firstResults(stack.gatewayAddress, grpc.credentials.createInsecure(), 1);
    expect(plaintext).toMatchObject({ code: grpc.status.UNAVAILABLE });
  }, 60_000);

  it('acknowledges commands only with the token', async () => {
    const command = { requestId: 'tls-1', target: 'capture', type: 'capture.set_fps', payload: { fps: 15 } };
    expect(await postCommand(stack.httpUrl, command)).toMatchObject({ status: 401, body: { error: expect.stringMatching(/missing bearer token/) } });
    const reply = await fetch(`${stack.httpUrl}/api/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(command),
      signal: AbortSignal.timeout(10_000),
    });
    expect(reply.status).toBe(200);
    expect(await reply.json()).toMatchObject({ requestId: 'tls-1', status: 'success', responder: 'capture' });
    await waitFor('the health endpoint open without a token', async () => (await fetch(`${stack.httpUrl}/api/health`)).status === 200, 10_000);
  }, 30_000);
});
