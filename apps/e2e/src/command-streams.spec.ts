// The streaming command path end to end, with bearer tokens: a real gateway process and a real
// worker process (whose listener subscribes with ListenCommands and acknowledges on it). Commands
// sent over StreamCommands, SendCommand and REST are all applied and acknowledged by the worker, the
// acks arrive on the worker's command call (the gateway's acknowledgedOnStream), and both new calls
// refuse a missing token with UNAUTHENTICATED.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandStream, openCommandStream } from '@framewire/commands';
import { AUTHORIZATION_KEY } from '@framewire/grpc-client';
import { AckStatus, Command, CommandRouterClient, SendCommandResponse } from '@framewire/proto';
import { http, postCommand, ServiceProcess, startServiceProcess, stopServiceProcess, waitFor } from '@framewire/testing';

const TOKEN = 'e2e-command-streams-token-0123456789';
const WORKER = 'stream-worker';
/** A port nobody listens on: the worker keeps retrying the supplier, which costs it nothing here. */
const ABSENT_SUPPLIER = '127.0.0.1:9';
const SUBSCRIBED_WITHIN_MS = 30_000;
const CALL_DEADLINE_MS = 15_000;

const withToken = (): grpc.Metadata => {
  const metadata = new grpc.Metadata();
  metadata.set(AUTHORIZATION_KEY, `Bearer ${TOKEN}`);
  return metadata;
};

const fpsCommand = (requestId: string, fps: number): Command => ({ requestId, target: WORKER, type: 'worker.set_fps', payloadJson: JSON.stringify({ fps }), timeoutMs: 0 });

describe('streaming commands (real gateway and worker processes, tokens)', () => {
  let archiveDir: string;
  let gateway: ServiceProcess;
  let worker: ServiceProcess;
  let client: CommandRouterClient;
  let stream: CommandStream | undefined;
  const stats = async () => (await http(`http://127.0.0.1:${gateway.ports.HTTP}/api/stats`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.commands as Record<string, number>;

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'fw-e2e-command-streams-'));
    gateway = await startServiceProcess('gateway', { FW_ARCHIVE_DIR: archiveDir, FW_AUTH_TOKEN: TOKEN }, { listeners: ['gRPC', 'HTTP'] });
    worker = await startServiceProcess('worker', { FW_WORKER_ID: WORKER, FW_GATEWAY_ADDRESS: `127.0.0.1:${gateway.port}`, FW_SUPPLIER_ADDRESS: ABSENT_SUPPLIER, FW_AUTH_TOKEN: TOKEN });
    client = new CommandRouterClient(`127.0.0.1:${gateway.port}`, grpc.credentials.createInsecure());
    const probe = openCommandStream(client, { metadata: withToken() });
    let n = 0;
    // Until the worker has subscribed, the gateway answers UNKNOWN_TARGET.
    await waitFor('the worker to subscribe', async () => (await probe.send(fpsCommand(`probe-${n++}`, 1))).ack?.status === AckStatus.ACK_STATUS_SUCCESS, SUBSCRIBED_WITHIN_MS, 200);
    probe.end();
  }, 60_000);

  afterAll(async () => {
    stream?.cancel();
    client?.close();
    if (worker) await stopServiceProcess(worker);
    if (gateway) await stopServiceProcess(gateway);
    rmSync(archiveDir, { recursive: true, force: true });
  }, 60_000);

  it('many commands on one StreamCommands call are each applied and acknowledged on the worker’s command call', async () => {
    const before = await stats();
    stream = openCommandStream(client, { metadata: withToken() });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => stream?.send(fpsCommand(`many-${i}`, 1 + i)) as Promise<SendCommandResponse>));
    expect(answers.map((a) => [a.ack?.requestId, a.ack?.status, a.ack?.responder, a.ack?.message])).toEqual(
      Array.from({ length: 20 }, (_, i) => [`many-${i}`, AckStatus.ACK_STATUS_SUCCESS, WORKER, expect.stringContaining(String(1 + i))]),
    );
    const after = await stats();
    expect(after.acknowledged - before.acknowledged).toBe(20);
    expect(after.acknowledgedOnStream - before.acknowledgedOnStream).toBe(20);
  });

  it('the worker audits the commands it applied in batched `commands applied` lines, without the token', async () => {
    stream = openCommandStream(client, { metadata: withToken() });
    for (let i = 0; i < 3; i++) await stream.send(fpsCommand(`audit-${i}`, 7 + i));
    await stream.send({ ...fpsCommand('audit-bad', 1), payloadJson: '{"fps":-1}' });
    const audited = () =>
      worker.output
        .filter((line) => line.includes('"commands applied"'))
        .flatMap((line) => (JSON.parse(line) as { commands: { requestId: string; status: string; detail: string }[] }).commands)
        .filter((c) => c.requestId.startsWith('audit-'));
    // A batch is written within AUDIT_FLUSH_MS (100 ms); the bound here only ends a broken run.
    await waitFor('the audit of the four commands', async () => audited().length === 4, 10_000, 50);
    expect(audited()).toEqual([
      { requestId: 'audit-0', type: 'worker.set_fps', status: 'ACK_STATUS_SUCCESS', detail: 'fps: 7' },
      { requestId: 'audit-1', type: 'worker.set_fps', status: 'ACK_STATUS_SUCCESS', detail: 'fps: 8' },
      { requestId: 'audit-2', type: 'worker.set_fps', status: 'ACK_STATUS_SUCCESS', detail: 'fps: 9' },
      { requestId: 'audit-bad', type: 'worker.set_fps', status: 'ACK_STATUS_ERROR', detail: 'payload.fps must be at least 0 (got -1)' },
    ]);
    expect(worker.output.filter((line) => line.includes(TOKEN))).toEqual([]);
  });

  it('SendCommand and POST /api/commands still work, acknowledged the same way', async () => {
    const before = await stats();
    const viaGrpc = await new Promise<SendCommandResponse>((resolve, reject) =>
      client.sendCommand({ command: fpsCommand('unary-1', 5) }, withToken(), { deadline: Date.now() + CALL_DEADLINE_MS }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    expect(viaGrpc.ack).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, responder: WORKER });
    const viaRest = await postCommand(`http://127.0.0.1:${gateway.ports.HTTP}`, { requestId: 'rest-1', target: WORKER, type: 'worker.set_fps', payload: { fps: 6 } }, TOKEN);
    expect([viaRest.status, viaRest.body.status, viaRest.body.responder]).toEqual([200, 'success', WORKER]);
    expect((await stats()).acknowledgedOnStream - before.acknowledgedOnStream).toBe(2);
  });

  it('refuses StreamCommands and ListenCommands without the token (UNAUTHENTICATED), naming no token', async () => {
    const anonymous = openCommandStream(client);
    const refused = await anonymous.send(fpsCommand('anon-1', 2)).catch((e: { code: number; details: string }) => e);
    expect(refused).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(JSON.stringify(refused)).not.toContain(TOKEN);

    const listen = client.listenCommands();
    listen.on('data', () => undefined);
    const status = new Promise<grpc.ServiceError>((resolve) => listen.on('error', resolve));
    listen.write({ subscribe: { serviceId: 'intruder', poolId: '' } });
    expect((await status).code).toBe(grpc.status.UNAUTHENTICATED);
    // Nothing subscribed as the intruder.
    stream ??= openCommandStream(client, { metadata: withToken() });
    const { ack } = await stream.send({ ...fpsCommand('to-intruder', 2), target: 'intruder' });
    expect(ack?.status).toBe(AckStatus.ACK_STATUS_UNKNOWN_TARGET);
  });
});
