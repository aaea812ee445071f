// Hostile subscriptions to pool commands, against a real gateway process over loopback (no token,
// so anyone on loopback may subscribe): a stranger cannot take a service's commands by naming it
// as its pool, nor a pool's by subscribing under the pool's id; a malformed or huge pool_id is
// refused naming the field without echoing it; a flood of members stops at the pool bound; a pool
// of members that never answer is answered TIMEOUT per member at the deadline. Bounded: a few
// hundred streams on one connection, commands of a few seconds.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandListener, DEFAULT_MAX_POOL_MEMBERS, listenForCommands } from '@framewire/commands';
import { AckStatus, Command, CommandRouterClient, SendCommandResponse, SubscribeCommandsResponse } from '@framewire/proto';
import { ServiceProcess, startServiceProcess, stopServiceProcess, waitFor } from '@framewire/testing';

const SUBSCRIBED_WITHIN_MS = 20_000;
const CALL_DEADLINE_MS = 15_000;
/** A refusal comes at once; a subscription still open after this was accepted. */
const REFUSAL_WITHIN_MS = 5_000;

type Subscription = { call: grpc.ClientReadableStream<SubscribeCommandsResponse>; heard: Command[]; accepted: () => boolean; refusal: Promise<grpc.ServiceError> };

describe('adversarial: pool commands (real gateway process)', () => {
  let archiveDir: string;
  let gateway: ServiceProcess;
  let client: CommandRouterClient;
  const listeners: CommandListener[] = [];
  const applied = new Map<string, string[]>();
  const opened: grpc.ClientReadableStream<SubscribeCommandsResponse>[] = [];

  const subscribe = (serviceId: string, poolId: string): Subscription => {
    const call = client.subscribeCommands({ serviceId, poolId });
    opened.push(call);
    const heard: Command[] = [];
    let accepted = false;
    call.on('metadata', () => (accepted = true));
    call.on('data', (r: SubscribeCommandsResponse) => heard.push(r.command as Command));
    const refusal = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    return { call, heard, accepted: () => accepted, refusal };
  };

  const refusalOf = async (s: Subscription): Promise<grpc.ServiceError> => {
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([s.refusal, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), REFUSAL_WITHIN_MS)))]);
    clearTimeout(timer);
    if (outcome === undefined) throw new Error('the gateway accepted the subscription');
    return outcome;
  };

  const sendCommand = (command: Partial<Command>): Promise<SendCommandResponse> => {
    const full: Command = { requestId: 'r-1', target: 'capture', type: 'capture.pause', payloadJson: '', timeoutMs: 0, ...command };
    return new Promise((resolve, reject) =>
      client.sendCommand({ command: full }, new grpc.Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (err, r) => (err ? reject(err) : resolve(r))),
    );
  };

  const listen = (serviceId: string, poolId = ''): void => {
    applied.set(serviceId, []);
    const handler = (_payload: unknown, command: Command) => void applied.get(serviceId)?.push(command.requestId);
    listeners.push(listenForCommands({ address: `127.0.0.1:${gateway.port}`, serviceId, poolId, handlers: { 'capture.pause': handler, 'worker.set_fps': handler } }));
  };

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'fw-adversarial-pool-commands-'));
    gateway = await startServiceProcess('gateway', { FW_ARCHIVE_DIR: archiveDir }, { listeners: ['gRPC', 'HTTP'] });
    client = new CommandRouterClient(`127.0.0.1:${gateway.port}`, grpc.credentials.createInsecure());
    listen('capture');
    listen('worker-1', 'detectors');
    listen('worker-2', 'detectors');
    await waitFor('the listeners to subscribe', () => listeners.every((l) => l.connected), SUBSCRIBED_WITHIN_MS);
  }, 60_000);

  afterAll(async () => {
    for (const call of opened) call.cancel();
    await Promise.all(listeners.map((l) => l.close()));
    client?.close();
    if (gateway) await stopServiceProcess(gateway);
    rmSync(archiveDir, { recursive: true, force: true });
  }, 60_000);

  it("refuses a stranger who names a service as its pool, and the service's commands still reach only it", async () => {
    const stranger = subscribe('stranger-1', 'capture');
    const refused = await refusalOf(stranger);
    expect([refused.code, refused.details]).toEqual([grpc.status.FAILED_PRECONDITION, expect.stringMatching(/^pool_id "capture" is the id of a service subscribed for commands/)]);
    const { ack, memberAcks } = await sendCommand({ requestId: 'hijack-1' });
    expect(ack).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, responder: 'capture' });
    expect(memberAcks).toEqual([]);
    expect(stranger.heard).toEqual([]);
  });

  it("refuses a stranger who subscribes under a pool's id, and the pool's commands still reach its members", async () => {
    const stranger = subscribe('detectors', '');
    const refused = await refusalOf(stranger);
    expect([refused.code, refused.details]).toEqual([grpc.status.FAILED_PRECONDITION, expect.stringMatching(/^service_id "detectors" is the id of a pool with 2 members/)]);
    const { ack, memberAcks } = await sendCommand({ requestId: 'hijack-2', target: 'detectors', type: 'worker.set_fps', payloadJson: '{"fps":3}' });
    expect(ack).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, responder: 'detectors' });
    expect(memberAcks.map((a) => a.responder)).toEqual(['worker-1', 'worker-2']);
    expect([applied.get('worker-1'), applied.get('worker-2')]).toEqual([['hijack-2'], ['hijack-2']]);
    expect(stranger.heard).toEqual([]);
  });

  it('refuses a malformed or huge pool_id with INVALID_ARGUMENT naming the field, quoting at most 80 characters of it', async () => {
    for (const poolId of ['a b', '../pool', 'x'.repeat(65), `huge-${'y'.repeat(1_000_000)}`]) {
      const refused = await refusalOf(subscribe('worker-x', poolId));
      expect(refused.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(refused.details).toMatch(/^pool_id ".*" is not a pool id/);
      expect(refused.details.length).toBeLessThan(200);
    }
  });

  it(`stops a flood of members at ${DEFAULT_MAX_POOL_MEMBERS} per pool, and answers a command to members that never acknowledge TIMEOUT per member at the deadline`, async () => {
    const members = Array.from({ length: DEFAULT_MAX_POOL_MEMBERS }, (_, i) => subscribe(`mute-${String(i).padStart(3, '0')}`, 'mutes'));
    await waitFor('the mute members to subscribe', () => members.every((m) => m.accepted()), SUBSCRIBED_WITHIN_MS);
    const oneMore = await refusalOf(subscribe('mute-extra', 'mutes'));
    expect([oneMore.code, oneMore.details]).toEqual([grpc.status.RESOURCE_EXHAUSTED, `pool "mutes" has ${DEFAULT_MAX_POOL_MEMBERS} members subscribed for commands (limit ${DEFAULT_MAX_POOL_MEMBERS})`]);

    const { ack, memberAcks } = await sendCommand({ requestId: 'mute-1', target: 'mutes', type: 'worker.set_fps', payloadJson: '{"fps":1}', timeoutMs: 2_000 });
    expect(ack).toMatchObject({ status: AckStatus.ACK_STATUS_TIMEOUT, responder: 'mutes' });
    expect(ack?.message).toMatch(new RegExp(`^0 of ${DEFAULT_MAX_POOL_MEMBERS} members of pool "mutes" succeeded; mute-000 TIMEOUT`));
    expect(memberAcks).toHaveLength(DEFAULT_MAX_POOL_MEMBERS);
    expect(memberAcks.every((a) => a.status === AckStatus.ACK_STATUS_TIMEOUT)).toBe(true);
    expect(members.every((m) => m.heard.length === 1 && m.heard[0].requestId === 'mute-1')).toBe(true);
    // The gateway waits for nothing afterwards.
    const stats = (await (await fetch(`http://127.0.0.1:${gateway.ports.HTTP}/api/stats`, { signal: AbortSignal.timeout(CALL_DEADLINE_MS) })).json()) as { commands: { pending: number; timeouts: number } };
    expect(stats.commands).toMatchObject({ pending: 0, timeouts: DEFAULT_MAX_POOL_MEMBERS });
  });
});
