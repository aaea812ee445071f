// Commands to a worker pool, end to end: a real gateway process, a real worker process in pool
// "detectors" (FW_WORKER_POOL) and two command listeners in the same pool, one listener outside it.
// A command whose target is the pool reaches the three members and is acknowledged per member (gRPC
// and REST); a member that never acknowledges shows as TIMEOUT at the deadline while the others'
// acks stand; a repeated request id gets the first answer without a second delivery. A worker of
// two streams without FW_WORKER_POOL (a pool of one named after it at the supplier) takes commands.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandListener, listenForCommands } from '@framewire/commands';
import { AckStatus, Command, CommandRouterClient, SendCommandResponse, SubscribeCommandsResponse } from '@framewire/proto';
import { postCommand, ServiceProcess, startServiceProcess, stopServiceProcess, waitFor } from '@framewire/testing';

const POOL = 'detectors';
/** A port nobody listens on: the worker keeps retrying the supplier, which costs it nothing here. */
const ABSENT_SUPPLIER = '127.0.0.1:9';
const SUBSCRIBED_WITHIN_MS = 30_000;
const CALL_DEADLINE_MS = 15_000;

function sendCommand(client: CommandRouterClient, command: Partial<Command>): Promise<SendCommandResponse> {
  const full: Command = { requestId: 'pool-1', target: POOL, type: 'worker.set_fps', payloadJson: '{"fps":4}', timeoutMs: 0, ...command };
  return new Promise((resolve, reject) =>
    client.sendCommand({ command: full }, new grpc.Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (err, response) => (err ? reject(err) : resolve(response))),
  );
}

describe('commands to a worker pool (real gateway and worker processes)', () => {
  let archiveDir: string;
  let gateway: ServiceProcess;
  let worker: ServiceProcess;
  let twoStreamWorker: ServiceProcess;
  let client: CommandRouterClient;
  const listeners = new Map<string, CommandListener>();
  const received = new Map<string, Command[]>();

  const listen = (serviceId: string, poolId: string): void => {
    received.set(serviceId, []);
    listeners.set(
      serviceId,
      listenForCommands({
        address: `127.0.0.1:${gateway.port}`,
        serviceId,
        poolId,
        handlers: {
          'worker.set_fps': (payload: { fps: number }, command: Command) => {
            received.get(serviceId)?.push(command);
            return `${serviceId} at ${payload.fps} fps`;
          },
        },
      }),
    );
  };

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'fw-pool-commands-'));
    gateway = await startServiceProcess('gateway', { FW_ARCHIVE_DIR: archiveDir }, { listeners: ['gRPC', 'HTTP'] });
    worker = await startServiceProcess('worker', { FW_WORKER_ID: 'worker-3', FW_WORKER_POOL: POOL, FW_GATEWAY_ADDRESS: `127.0.0.1:${gateway.port}`, FW_SUPPLIER_ADDRESS: ABSENT_SUPPLIER });
    twoStreamWorker = await startServiceProcess('worker', {
      FW_WORKER_ID: 'worker-5',
      FW_WORKER_STREAMS: 'cam-a,cam-b',
      FW_GATEWAY_ADDRESS: `127.0.0.1:${gateway.port}`,
      FW_SUPPLIER_ADDRESS: ABSENT_SUPPLIER,
    });
    listen('worker-1', POOL);
    listen('worker-2', POOL);
    listen('worker-9', '');
    client = new CommandRouterClient(`127.0.0.1:${gateway.port}`, grpc.credentials.createInsecure());
    await waitFor('the listeners to subscribe', () => [...listeners.values()].every((l) => l.connected), SUBSCRIBED_WITHIN_MS);
    // The worker process subscribes with its pool in one call: once it answers as a service (ERROR
    // for a payload it refuses, nothing applied), it is a member too.
    let probe = 0;
    for (const target of ['worker-3', 'worker-5']) {
      await waitFor(
        `${target} to subscribe`,
        async () => (await sendCommand(client, { requestId: `probe-${++probe}`, target, payloadJson: '{"fps":1000}' })).ack?.status === AckStatus.ACK_STATUS_ERROR,
        SUBSCRIBED_WITHIN_MS,
      );
    }
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await Promise.all([...listeners.values()].map((l) => l.close()));
    if (worker) await stopServiceProcess(worker);
    if (twoStreamWorker) await stopServiceProcess(twoStreamWorker);
    if (gateway) await stopServiceProcess(gateway);
    rmSync(archiveDir, { recursive: true, force: true });
  }, 60_000);

  it('delivers a pool command to its three members, not to the service outside it, and answers per member', async () => {
    const { ack, memberAcks } = await sendCommand(client, {});
    expect(ack).toMatchObject({ requestId: 'pool-1', status: AckStatus.ACK_STATUS_SUCCESS, responder: POOL, message: `3 of 3 members of pool "${POOL}" succeeded` });
    expect(memberAcks.map((a) => [a.responder, a.status, a.message])).toEqual([
      ['worker-1', AckStatus.ACK_STATUS_SUCCESS, 'worker-1 at 4 fps'],
      ['worker-2', AckStatus.ACK_STATUS_SUCCESS, 'worker-2 at 4 fps'],
      // The worker process's own handler: its pacer now runs at 4 fps.
      ['worker-3', AckStatus.ACK_STATUS_SUCCESS, 'fps: 4'],
    ]);
    expect([...received].map(([id, commands]) => [id, commands.map((c) => [c.requestId, c.target])])).toEqual([
      ['worker-1', [['pool-1', POOL]]],
      ['worker-2', [['pool-1', POOL]]],
      ['worker-9', []],
    ]);
  });

  it('answers POST /api/commands to the pool with the summary and memberAcks', async () => {
    const reply = await postCommand(`http://127.0.0.1:${gateway.ports.HTTP}`, { requestId: 'pool-rest', target: POOL, type: 'worker.set_fps', payload: { fps: 6 } });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ requestId: 'pool-rest', status: 'success', responder: POOL });
    expect(reply.body.memberAcks.map((a: { responder: string; status: string; message: string }) => [a.responder, a.status, a.message])).toEqual([
      ['worker-1', 'success', 'worker-1 at 6 fps'],
      ['worker-2', 'success', 'worker-2 at 6 fps'],
      ['worker-3', 'success', 'fps: 6'],
    ]);
  });

  it('shows a member that never acknowledges as TIMEOUT at the deadline, the others as they answered; a retry gets the same answer', async () => {
    // A fourth member that reads its commands and never acknowledges them.
    const silent = client.subscribeCommands({ serviceId: 'worker-4', poolId: POOL });
    const heard: Command[] = [];
    let subscribed = false;
    silent.on('metadata', () => (subscribed = true));
    silent.on('data', (r: SubscribeCommandsResponse) => heard.push(r.command as Command));
    silent.on('error', () => undefined);
    try {
      await waitFor('the silent member to subscribe', () => subscribed, SUBSCRIBED_WITHIN_MS);
      const { ack, memberAcks } = await sendCommand(client, { requestId: 'pool-silent', payloadJson: '{"fps":8}', timeoutMs: 1_500 });
      expect(ack?.status).toBe(AckStatus.ACK_STATUS_TIMEOUT);
      expect(ack?.message).toBe(`3 of 4 members of pool "${POOL}" succeeded; worker-4 TIMEOUT: no acknowledgement from "worker-4" within 1500 ms`);
      expect(memberAcks.map((a) => [a.responder, a.status])).toEqual([
        ['worker-1', AckStatus.ACK_STATUS_SUCCESS],
        ['worker-2', AckStatus.ACK_STATUS_SUCCESS],
        ['worker-3', AckStatus.ACK_STATUS_SUCCESS],
        ['worker-4', AckStatus.ACK_STATUS_TIMEOUT],
      ]);
      expect(heard.map((c) => [c.requestId, c.target])).toEqual([['pool-silent', POOL]]);
      // The same request id again: the first answer, delivered to nobody a second time.
      const again = await sendCommand(client, { requestId: 'pool-silent', payloadJson: '{"fps":8}', timeoutMs: 1_500 });
      expect(again).toEqual({ ack, memberAcks });
      expect(received.get('worker-1')?.filter((c) => c.requestId === 'pool-silent')).toHaveLength(1);
      expect(heard).toHaveLength(1);
    } finally {
      silent.cancel();
    }
  });

  it('gives a worker of two streams without FW_WORKER_POOL (a pool of one named after it) the commands to its id', async () => {
    const { ack, memberAcks } = await sendCommand(client, { requestId: 'own-pool', target: 'worker-5', payloadJson: '{"fps":2}' });
    expect(ack).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, responder: 'worker-5', message: 'fps: 2' });
    expect(memberAcks).toEqual([]);
  });
});
