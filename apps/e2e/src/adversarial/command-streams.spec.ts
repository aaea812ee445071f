// Hostile clients of the streaming command calls (ListenCommands, StreamCommands), against a real
// gateway process over loopback with no token (anyone on loopback may call): bytes that are no
// protobuf, a client that sends commands and never reads its answers, a service that never reads
// its commands, a subscriber that acknowledges another service's command, and a huge ack message.
// Raw HTTP/2 clients, so that "never reads" means the transport stops reading (grpc-js's client
// would read into its own memory). Between processes, HTTP/2 and TCP back-pressure hold a flood too;
// libs/commands' command-streams.spec isolates the gateway's own in-flight bound (it fails without
// it). Bounded: tens of thousands of small messages on a few streams.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_COMMANDS_IN_FLIGHT_PER_STREAM, MAX_QUEUED_COMMANDS_PER_SUBSCRIBER, openCommandStream } from '@framewire/commands';
import { AckStatus, Command, CommandRouterClient, ListenCommandsRequest, StreamCommandsRequest } from '@framewire/proto';
import { http, residentMiB, ServiceProcess, startServiceProcess, stopServiceProcess, waitFor } from '@framewire/testing';

const SERVICE = '/framewire.v1.CommandRouter';
const SETTLED_WITHIN_MS = 30_000;
/** Far above what the gateway holds with the bounds, far below what 20,000 unbounded answers and
 *  commands would make it hold on top of its start-up size. */
const RSS_GROWTH_LIMIT_MIB = 60;

interface RawCall {
  stream: ClientHttp2Stream;
  /** grpc-status and grpc-message, from trailers (or a trailers-only answer). */
  status: Promise<{ code: number; message: string }>;
  send(bytes: Uint8Array): void;
}

/** A gRPC call over node:http2, on a connection of its own (an unread stream holds its connection's
 *  flow-control window), whose response is never read unless the test reads it. */
function rawCall(address: string, method: string): RawCall {
  const session = connect(`http://${address}`);
  session.on('error', () => undefined);
  sessions.push(session);
  const stream = session.request({ ':method': 'POST', ':path': `${SERVICE}/${method}`, 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => undefined);
  stream.pause();
  const status = new Promise<{ code: number; message: string }>((resolve) => {
    const take = (headers: Record<string, unknown>) => {
      if (headers['grpc-status'] !== undefined) resolve({ code: Number(headers['grpc-status']), message: decodeURIComponent(String(headers['grpc-message'] ?? '')) });
    };
    stream.on('response', take);
    stream.on('trailers', take);
  });
  const send = (bytes: Uint8Array) => {
    const frame = Buffer.alloc(5 + bytes.length);
    frame.writeUInt32BE(bytes.length, 1);
    frame.set(bytes, 5);
    stream.write(frame);
  };
  return { stream, status, send };
}

const sessions: ClientHttp2Session[] = [];

const command = (over: Partial<Command>): Command => ({ requestId: 'r', target: 'nobody', type: 'worker.set_fps', payloadJson: '{"fps":1}', timeoutMs: 0, ...over });

describe('adversarial: streaming command calls (real gateway process)', () => {
  let archiveDir: string;
  let gateway: ServiceProcess;
  let client: CommandRouterClient;
  const stats = async () => (await http(`http://127.0.0.1:${gateway.ports.HTTP}/api/stats`)).body.commands as Record<string, number>;

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'fw-adversarial-command-streams-'));
    gateway = await startServiceProcess('gateway', { FW_ARCHIVE_DIR: archiveDir }, { listeners: ['gRPC', 'HTTP'] });
    client = new CommandRouterClient(`127.0.0.1:${gateway.port}`, grpc.credentials.createInsecure());
  }, 60_000);

  afterAll(async () => {
    for (const s of sessions) s.destroy();
    client?.close();
    if (gateway) await stopServiceProcess(gateway);
    rmSync(archiveDir, { recursive: true, force: true });
  }, 60_000);

  it.each(['ListenCommands', 'StreamCommands'])('%s: bytes that are no protobuf end the call INVALID_ARGUMENT naming the request index', async (method) => {
    const call = rawCall(`127.0.0.1:${gateway.port}`, method);
    call.stream.resume();
    if (method === 'ListenCommands') call.send(ListenCommandsRequest.encode({ subscribe: { serviceId: 'garbage-sender', poolId: '' } }).finish());
    else call.send(StreamCommandsRequest.encode({ command: command({ requestId: 'fine' }) }).finish());
    call.send(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    const status = await call.status;
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.message).toContain(`request 1 of this call to ${SERVICE}/${method} is not a valid request message`);
  });

  it('a client that sends 20,000 commands and never reads holds a bounded number in the gateway, which keeps answering others', async () => {
    const rssBefore = residentMiB(gateway.child.pid as number);
    const routedBefore = (await stats()).unknownTarget;
    const call = rawCall(`127.0.0.1:${gateway.port}`, 'StreamCommands');
    const payloadJson = JSON.stringify({ fps: 1, pad: 'p'.repeat(1_000) });
    for (let i = 0; i < 20_000; i++) call.send(StreamCommandsRequest.encode({ command: command({ requestId: `flood-${i}`, payloadJson }) }).finish());
    let routed = -1;
    await waitFor(
      'the gateway to stop routing the unread call',
      async () => {
        const now = (await stats()).unknownTarget - routedBefore;
        const still = now === routed && now > 0;
        routed = now;
        return still;
      },
      SETTLED_WITHIN_MS,
      1_000,
    );
    // What is in flight (MAX_COMMANDS_IN_FLIGHT_PER_STREAM) and what HTTP/2's windows let through.
    expect(routed).toBeLessThan(MAX_COMMANDS_IN_FLIGHT_PER_STREAM * 16);
    expect(residentMiB(gateway.child.pid as number) - rssBefore).toBeLessThan(RSS_GROWTH_LIMIT_MIB);
    const other = openCommandStream(client);
    const { ack } = await other.send(command({ requestId: 'other-client' }));
    expect(ack?.status).toBe(AckStatus.ACK_STATUS_UNKNOWN_TARGET);
    other.end();
    call.stream.close(grpc.status.CANCELLED);
  }, 90_000);

  it('a service that never reads its commands gets at most its queue; more are refused ERROR at once', async () => {
    const mute = rawCall(`127.0.0.1:${gateway.port}`, 'ListenCommands');
    mute.send(ListenCommandsRequest.encode({ subscribe: { serviceId: 'mute-reader', poolId: '' } }).finish());
    const sender = openCommandStream(client);
    await waitFor('the mute subscription', async () => (await sender.send(command({ requestId: `mute-probe-${Date.now()}`, target: 'mute-reader', timeoutMs: 100 }))).ack?.status === AckStatus.ACK_STATUS_TIMEOUT, SETTLED_WITHIN_MS, 200);
    const pad = 'q'.repeat(60_000);
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => sender.send(command({ requestId: `mute-${i}`, target: 'mute-reader', payloadJson: JSON.stringify({ fps: 1, pad }), timeoutMs: 2_000 }))),
    );
    const refused = answers.filter((a) => a.ack?.status === AckStatus.ACK_STATUS_ERROR && /is not reading its commands/.test(a.ack.message));
    const timedOut = answers.filter((a) => a.ack?.status === AckStatus.ACK_STATUS_TIMEOUT);
    expect(refused.length + timedOut.length).toBe(200);
    expect(refused.length).toBeGreaterThan(200 - MAX_QUEUED_COMMANDS_PER_SUBSCRIBER - 64);
    sender.end();
    mute.stream.close(grpc.status.CANCELLED);
  }, 60_000);

  it("a subscriber cannot acknowledge another service's command, and a huge ack message is cut", async () => {
    const victim = rawCall(`127.0.0.1:${gateway.port}`, 'ListenCommands');
    victim.send(ListenCommandsRequest.encode({ subscribe: { serviceId: 'victim', poolId: '' } }).finish());
    victim.stream.resume();
    const mallory = rawCall(`127.0.0.1:${gateway.port}`, 'ListenCommands');
    mallory.send(ListenCommandsRequest.encode({ subscribe: { serviceId: 'mallory', poolId: '' } }).finish());
    mallory.stream.resume();
    const sender = openCommandStream(client);
    await waitFor('both subscriptions', async () => (await sender.send(command({ requestId: `probe-${Date.now()}`, target: 'mallory', timeoutMs: 100 }))).ack?.status === AckStatus.ACK_STATUS_TIMEOUT, SETTLED_WITHIN_MS, 200);
    const lateBefore = (await stats()).lateAcks;
    const forVictim = sender.send(command({ requestId: 'victim-1', target: 'victim', timeoutMs: 1_500 }));
    const forMallory = sender.send(command({ requestId: 'mallory-1', target: 'mallory', timeoutMs: 5_000 }));
    const ack = (requestId: string, message: string) => ListenCommandsRequest.encode({ ack: { requestId, status: AckStatus.ACK_STATUS_SUCCESS, message, responder: '', latencyUs: 0 } }).finish();
    mallory.send(ack('victim-1', 'hijacked'));
    mallory.send(ack('mallory-1', 'm'.repeat(1_000_000)));
    expect((await forVictim).ack).toMatchObject({ status: AckStatus.ACK_STATUS_TIMEOUT, responder: '' });
    const own = (await forMallory).ack;
    expect(own).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, responder: 'mallory' });
    expect(own?.message.length).toBe(2_000);
    expect((await stats()).lateAcks - lateBefore).toBe(1);
    sender.end();
    victim.stream.close(grpc.status.CANCELLED);
    mallory.stream.close(grpc.status.CANCELLED);
  }, 60_000);
});
