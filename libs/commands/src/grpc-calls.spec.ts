// The command round trip over real gRPC on loopback: the gateway side (commandRouterGrpcService over
// a CommandRouter) and a service side (listenForCommands).
import * as grpc from '@grpc/grpc-js';
import { CommandListener, CommandRouter, listenForCommands, MAX_WAITING_COMMANDS } from './index';
import { AckStatus, Command, CommandAck, CommandRouterClient, CommandRouterService, SendCommandResponse, SubscribeCommandsResponse } from '@framewire/proto';
import { commandRouterGrpcService, MAX_QUEUED_COMMAND_BYTES_PER_SUBSCRIBER } from './grpc-calls';

const quietLogger = { log: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const FAST_RECONNECT = { initialMs: 20, maxMs: 100 };

interface Gateway {
  server: grpc.Server;
  router: CommandRouter;
  port: number;
  address: string;
}

async function startGateway(options: { port?: number } = {}): Promise<Gateway> {
  const router = new CommandRouter();
  const server = new grpc.Server();
  server.addService(CommandRouterService, commandRouterGrpcService(router, quietLogger));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, router, port, address: `127.0.0.1:${port}` };
}

function stopGateway(gateway: Gateway): void {
  gateway.router.close();
  gateway.server.forceShutdown();
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function sendCommand(client: CommandRouterClient, command: Partial<Command>, metadata = new grpc.Metadata()): Promise<SendCommandResponse> {
  const full: Command = { requestId: 'req-1', target: 'capture', type: 'capture.pause', payloadJson: '', timeoutMs: 0, ...command };
  return new Promise((resolve, reject) =>
    client.sendCommand({ command: full }, metadata, { deadline: Date.now() + 10_000 }, (err, response) => (err ? reject(err) : resolve(response))),
  );
}

const send = (client: CommandRouterClient, command: Partial<Command>, metadata = new grpc.Metadata()): Promise<CommandAck> =>
  sendCommand(client, command, metadata).then((response) => response.ack as CommandAck);

/** The gRPC status that ends a SubscribeCommands call at once. */
function subscriptionRefusal(client: CommandRouterClient, serviceId: string, poolId: string): Promise<grpc.ServiceError> {
  const call = client.subscribeCommands({ serviceId, poolId });
  call.on('data', () => undefined);
  return new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
}

describe('CommandRouter over gRPC', () => {
  let gateway: Gateway;
  let client: CommandRouterClient;
  let listener: CommandListener | undefined;
  const applied: string[] = [];

  const listen = (handlers: Parameters<typeof listenForCommands>[0]['handlers'], extra: Partial<Parameters<typeof listenForCommands>[0]> = {}) => {
    listener = listenForCommands({ address: gateway.address, serviceId: 'capture', handlers, logger: quietLogger, reconnect: FAST_RECONNECT, ...extra });
    return listener;
  };

  beforeEach(async () => {
    applied.length = 0;
    gateway = await startGateway();
    client = new CommandRouterClient(gateway.address, grpc.credentials.createInsecure());
  });

  afterEach(async () => {
    await listener?.close();
    listener = undefined;
    client.close();
    stopGateway(gateway);
  });

  const handlers = {
    'capture.pause': () => {
      applied.push('pause');
      return 'paused';
    },
    'capture.set_fps': async (payload: { fps: number }) => {
      applied.push(`fps ${payload.fps}`);
      await new Promise((r) => setTimeout(r, 5));
      return `fps is ${payload.fps}`;
    },
    'capture.resume': () => {
      throw new Error('cannot resume: the source is gone');
    },
  };

  it('round trip: the service applies the command and the caller gets its SUCCESS ack', async () => {
    const l = listen(handlers);
    await until(() => l.connected && gateway.router.attachedServices().includes('capture'), 'the subscription');
    const ack = await send(client, { type: 'capture.set_fps', payloadJson: '{"fps":30}' });
    expect(ack).toMatchObject({ requestId: 'req-1', status: AckStatus.ACK_STATUS_SUCCESS, message: 'fps is 30', responder: 'capture' });
    expect(ack.latencyUs).toBeGreaterThan(0);
    expect(l.stats).toMatchObject({ received: 1, succeeded: 1, failed: 0 });
  });

  it('a handler that throws gives an ERROR ack with its message', async () => {
    listen(handlers);
    await until(() => gateway.router.attachedServices().includes('capture'), 'the subscription');
    const ack = await send(client, { type: 'capture.resume' });
    expect(ack.status).toBe(AckStatus.ACK_STATUS_ERROR);
    expect(ack.message).toBe('cannot resume: the source is gone');
  });

  it('a handler still running at the command deadline is answered ERROR, and the next command proceeds', async () => {
    const l = listen({ 'capture.pause': () => new Promise<never>(() => undefined), 'capture.set_fps': ({ fps }: { fps: number }) => `fps is ${fps}` });
    await until(() => gateway.router.attachedServices().includes('capture'), 'the subscription');
    const hanging = send(client, { requestId: 'hangs', type: 'capture.pause', timeoutMs: 200 });
    const next = await send(client, { requestId: 'next', type: 'capture.set_fps', payloadJson: '{"fps":9}', timeoutMs: 20_000 });
    expect(next).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, message: 'fps is 9' });
    // The gateway's own deadline answers the caller; the service answered ERROR and moved on.
    expect((await hanging).status).toBe(AckStatus.ACK_STATUS_TIMEOUT);
    expect(l.stats).toMatchObject({ received: 2, succeeded: 1, failed: 1 });
  });

  it('a bad payload gives an ERROR ack naming the field, and the handler is not called', async () => {
    listen(handlers);
    await until(() => gateway.router.attachedServices().includes('capture'), 'the subscription');
    const ack = await send(client, { type: 'capture.set_fps', payloadJson: '{"fps":1000}' });
    expect(ack.status).toBe(AckStatus.ACK_STATUS_ERROR);
    expect(ack.message).toContain('payload.fps');
    expect(ack.message).toContain('1000');
    expect(applied).toEqual([]);
  });

  it('unknown target: UNKNOWN_TARGET naming the subscribed services', async () => {
    listen(handlers);
    await until(() => gateway.router.attachedServices().includes('capture'), 'the subscription');
    const ack = await send(client, { target: 'worker-9' });
    expect(ack.status).toBe(AckStatus.ACK_STATUS_UNKNOWN_TARGET);
    expect(ack.message).toContain('capture');
  });

  it('unknown type: UNKNOWN_TYPE from the gateway; a known type the service lacks: UNKNOWN_TYPE from the service', async () => {
    listen(handlers);
    await until(() => gateway.router.attachedServices().includes('capture'), 'the subscription');
    expect((await send(client, { type: 'capture.explode' })).status).toBe(AckStatus.ACK_STATUS_UNKNOWN_TYPE);
    const lacking = await send(client, { requestId: 'req-2', type: 'capture.switch_source', payloadJson: '{"source":"synthetic"}' });
    expect(lacking.status).toBe(AckStatus.ACK_STATUS_UNKNOWN_TYPE);
    expect(lacking.responder).toBe('capture');
  });

  it('timeout: a subscriber that never acknowledges gives a TIMEOUT ack at the deadline', async () => {
    const received: Command[] = [];
    const silent = client.subscribeCommands({ serviceId: 'capture', poolId: '' });
    silent.on('data', (r: SubscribeCommandsResponse) => received.push(r.command as Command));
    silent.on('error', () => undefined);
    await until(() => gateway.router.attachedServices().includes('capture'), 'the subscription');
    const ack = await send(client, { timeoutMs: 150 });
    expect(ack.status).toBe(AckStatus.ACK_STATUS_TIMEOUT);
    expect(ack.latencyUs).toBeGreaterThanOrEqual(140_000);
    expect(received.map((c) => c.requestId)).toEqual(['req-1']);
    silent.cancel();
  });

  it('holds at most 1 MiB of commands for a subscriber that does not read, refusing the rest with an ERROR ack', async () => {
    const silent = client.subscribeCommands({ serviceId: 'capture', poolId: '' });
    silent.pause();
    silent.on('error', () => undefined);
    await until(() => gateway.router.attachedServices().includes('capture'), 'the subscription');
    // 60 KiB commands (whitespace is allowed in a payload): 64 would fit the count bound (and 16
    // more grpc-js's own buffer), 17 fit 1 MiB; the transport's flow-control windows take a few.
    const payloadJson = `{"fps":10${' '.repeat(60 * 1024)}}`;
    const count = 80;
    const acks = await Promise.all(
      Array.from({ length: count }, (_, i) => send(client, { requestId: `big-${i}`, type: 'capture.set_fps', payloadJson, timeoutMs: 1_000 })),
    );
    const refused = acks.filter((a) => a.status === AckStatus.ACK_STATUS_ERROR);
    const queued = Math.floor(MAX_QUEUED_COMMAND_BYTES_PER_SUBSCRIBER / (60 * 1024));
    expect(refused.length).toBeGreaterThanOrEqual(count - queued - 25);
    expect(refused[0].message).toMatch(/"capture" is not reading its commands \(\d+ waiting, \d+ bytes\)/);
    expect(acks.filter((a) => a.status === AckStatus.ACK_STATUS_TIMEOUT).length).toBe(count - refused.length);
    silent.cancel();
  });

  it('a service with MAX_WAITING_COMMANDS commands waiting answers more at once with ERROR, unapplied', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let applied = 0;
    const l = listen({
      'capture.pause': async () => {
        applied++;
        await released;
      },
    });
    await until(() => gateway.router.attachedServices().includes('capture'), 'the subscription');
    const count = MAX_WAITING_COMMANDS + 20;
    const acks: Promise<CommandAck>[] = [];
    // One at a time, so that the gateway's own queue for the service never fills.
    for (let i = 0; i < count; i++) {
      acks.push(send(client, { requestId: `w-${i}`, timeoutMs: 20_000 }));
      await until(() => l.stats.received === i + 1, `command ${i} to arrive`);
    }
    expect(l.stats).toMatchObject({ refused: count - 1 - MAX_WAITING_COMMANDS });
    release();
    const answers = await Promise.all(acks);
    expect(answers.filter((a) => a.status === AckStatus.ACK_STATUS_SUCCESS)).toHaveLength(MAX_WAITING_COMMANDS + 1);
    const refused = answers.filter((a) => a.status === AckStatus.ACK_STATUS_ERROR);
    expect(refused).toHaveLength(count - 1 - MAX_WAITING_COMMANDS);
    expect(refused[0].message).toMatch(new RegExp(`^"capture" has ${MAX_WAITING_COMMANDS} commands \\(\\d+ bytes\\) waiting to be applied; capture.pause was not applied$`));
    expect(applied).toBe(MAX_WAITING_COMMANDS + 1);
  });

  it('a repeated request id gets the first answer and the handler runs once', async () => {
    let calls = 0;
    listen({ 'capture.pause': () => `call ${++calls}` });
    await until(() => gateway.router.attachedServices().includes('capture'), 'the subscription');
    const [a, b] = await Promise.all([send(client, {}), send(client, {})]);
    const c = await send(client, {});
    expect([a.message, b.message, c.message]).toEqual(['call 1', 'call 1', 'call 1']);
    expect(calls).toBe(1);
    await expect(send(client, { type: 'capture.resume' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('request_id') });
  });

  it('applies the commands of one service one at a time, in arrival order', async () => {
    const events: string[] = [];
    listen({
      'capture.set_fps': async (p: { fps: number }) => {
        events.push(`start ${p.fps}`);
        await new Promise((r) => setTimeout(r, 20 - p.fps));
        events.push(`end ${p.fps}`);
      },
    });
    await until(() => gateway.router.attachedServices().includes('capture'), 'the subscription');
    const sends = [1, 2, 3].map((fps) => send(client, { requestId: `r${fps}`, type: 'capture.set_fps', payloadJson: JSON.stringify({ fps }) }));
    await Promise.all(sends);
    expect(events).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
  });

  it('a pool command reaches every listener of the pool, and SendCommand answers with their member_acks', async () => {
    const listeners = ['worker-2', 'worker-1', 'worker-3', 'worker-9'].map((serviceId) =>
      listenForCommands({
        address: gateway.address,
        serviceId,
        poolId: serviceId === 'worker-9' ? '' : 'detectors',
        handlers: { 'worker.set_fps': (p: { fps: number }) => `${serviceId} at ${p.fps} fps` },
        logger: quietLogger,
        reconnect: FAST_RECONNECT,
      }),
    );
    try {
      await until(() => gateway.router.attachedPools().detectors?.length === 3 && gateway.router.attachedServices().includes('worker-9'), 'the subscriptions');
      const response = await sendCommand(client, { target: 'detectors', type: 'worker.set_fps', payloadJson: '{"fps":4}' });
      expect(response.ack).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, responder: 'detectors', message: '3 of 3 members of pool "detectors" succeeded' });
      expect(response.memberAcks.map((a) => [a.responder, a.status, a.message])).toEqual([
        ['worker-1', AckStatus.ACK_STATUS_SUCCESS, 'worker-1 at 4 fps'],
        ['worker-2', AckStatus.ACK_STATUS_SUCCESS, 'worker-2 at 4 fps'],
        ['worker-3', AckStatus.ACK_STATUS_SUCCESS, 'worker-3 at 4 fps'],
      ]);
      expect(listeners.map((l) => l.stats.received)).toEqual([1, 1, 1, 0]);
      // A service target's answer has no member acks.
      expect((await sendCommand(client, { requestId: 'req-2', target: 'worker-9', type: 'worker.set_fps', payloadJson: '{"fps":4}' })).memberAcks).toEqual([]);
    } finally {
      await Promise.all(listeners.map((l) => l.close()));
    }
  });

  it('refuses a bad pool_id (INVALID_ARGUMENT), an ambiguous one (FAILED_PRECONDITION) and a full pool (RESOURCE_EXHAUSTED), naming the field', async () => {
    const bad = await subscriptionRefusal(client, 'worker-1', 'no spaces');
    expect([bad.code, bad.details]).toEqual([grpc.status.INVALID_ARGUMENT, `pool_id "no spaces" is not a pool id (empty, or 1-64 letters, digits, '.', '_', ':', '-')`]);
    listen(handlers);
    await until(() => gateway.router.attachedServices().includes('capture'), 'the subscription');
    const ambiguous = await subscriptionRefusal(client, 'worker-1', 'capture');
    expect([ambiguous.code, ambiguous.details]).toEqual([grpc.status.FAILED_PRECONDITION, expect.stringMatching(/^pool_id "capture" is the id of a service/)]);
    expect(gateway.router.attachedPools()).toEqual({});

    const small = new CommandRouter({ maxPoolMembers: 1 });
    const server = new grpc.Server();
    server.addService(CommandRouterService, commandRouterGrpcService(small, quietLogger));
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const smallClient = new CommandRouterClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const member = smallClient.subscribeCommands({ serviceId: 'worker-1', poolId: 'detectors' });
    member.on('data', () => undefined);
    member.on('error', () => undefined);
    try {
      await until(() => small.attachedPools().detectors?.length === 1, 'the first member');
      const full = await subscriptionRefusal(smallClient, 'worker-2', 'detectors');
      expect([full.code, full.details]).toEqual([grpc.status.RESOURCE_EXHAUSTED, 'pool "detectors" has 1 member subscribed for commands (limit 1)']);
    } finally {
      member.cancel();
      smallClient.close();
      small.close();
      server.forceShutdown();
    }
  });

  it('the listener reconnects after the gateway restarts', async () => {
    const l = listen(handlers);
    await until(() => l.connected, 'the first subscription');
    const port = gateway.port;
    stopGateway(gateway);
    client.close();
    await until(() => !l.connected, 'the listener to notice');
    await new Promise((r) => setTimeout(r, 100));
    gateway = await startGateway({ port });
    client = new CommandRouterClient(gateway.address, grpc.credentials.createInsecure());
    await until(() => gateway.router.attachedServices().includes('capture'), 'the new subscription');
    expect((await send(client, {})).status).toBe(AckStatus.ACK_STATUS_SUCCESS);
    expect(l.stats.reconnects).toBeGreaterThanOrEqual(1);
  });

  it('malformed commands: INVALID_ARGUMENT naming the field', async () => {
    const cases: [Partial<Command>, string][] = [
      [{ requestId: '' }, 'request_id'],
      [{ target: 'no spaces allowed' }, 'target'],
      [{ payloadJson: '[1,2]' }, 'payload_json'],
      [{ timeoutMs: 10_000_000 }, 'timeout_ms'],
      [{ type: 'NOT A TYPE' }, 'type'],
    ];
    for (const [over, field] of cases) {
      await expect(send(client, over)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining(field) });
    }
    await expect(
      new Promise((resolve, reject) => client.sendCommand({ command: undefined }, (err, r) => (err ? reject(err) : resolve(r)))),
    ).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('command') });
    const bad = client.subscribeCommands({ serviceId: '../etc', poolId: '' });
    const status = await new Promise<grpc.ServiceError>((resolve) => bad.on('error', resolve));
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toContain('service_id');
  });
});

describe('the command listener logs', () => {
  interface Entry {
    level: 'log' | 'warn' | 'error' | 'debug';
    fields: Record<string, unknown>;
  }
  const entries: Entry[] = [];
  const record = (level: Entry['level']) => (fields: Record<string, unknown>) => void entries.push({ level, fields });
  const logger = { log: record('log'), warn: record('warn'), error: record('error'), debug: record('debug') };
  const at = (level: Entry['level'], message?: string) => entries.filter((e) => e.level === level && (message === undefined || e.fields.message === message));
  const UNAVAILABLE = 'command subscription unavailable; retrying';
  let gateway: Gateway | undefined;
  let listener: CommandListener | undefined;

  beforeEach(() => {
    entries.length = 0;
  });

  afterEach(async () => {
    await listener?.close();
    listener = undefined;
    if (gateway) stopGateway(gateway);
    gateway = undefined;
  });

  /** A port with nothing on it now (a gateway that has not started yet). */
  async function absentGatewayPort(): Promise<number> {
    const probe = await startGateway();
    stopGateway(probe);
    return probe.port;
  }

  it('warns about nothing when the service starts before the gateway and the gateway comes up within the grace period', async () => {
    const port = await absentGatewayPort();
    listener = listenForCommands({ address: `127.0.0.1:${port}`, serviceId: 'supplier', handlers: {}, logger, reconnect: FAST_RECONNECT, unavailableGraceMs: 30_000 });
    await until(() => at('debug', UNAVAILABLE).length >= 2, 'two failed attempts');
    gateway = await startGateway({ port });
    const l = listener;
    await until(() => l.connected, 'the subscription');
    expect(at('warn')).toEqual([]);
    expect(at('log', 'subscribed for commands')).toEqual([{ level: 'log', fields: expect.objectContaining({ unavailableForMs: expect.any(Number) }) }]);
  });

  it('warns about nothing when the gateway ends the subscription as everything stops', async () => {
    gateway = await startGateway();
    listener = listenForCommands({ address: gateway.address, serviceId: 'worker-1', handlers: {}, logger, reconnect: FAST_RECONNECT });
    const l = listener;
    await until(() => l.connected, 'the subscription');
    // The gateway stops first (it ends every subscription, then its server), and the service a moment later.
    gateway.router.close();
    await until(() => at('debug', UNAVAILABLE).length >= 1, 'the loss to be noticed');
    stopGateway(gateway);
    gateway = undefined;
    await listener.close();
    expect(at('warn')).toEqual([]);
    expect(at('debug', UNAVAILABLE)[0].fields).toMatchObject({ reason: 'the gateway ended the subscription' });
  });

  it('logs a refused pool as an error and subscribes once the pool id is free', async () => {
    gateway = await startGateway();
    const g = gateway;
    const detach = g.router.attach('detectors', () => undefined);
    listener = listenForCommands({ address: g.address, serviceId: 'worker-1', poolId: 'detectors', handlers: {}, logger, reconnect: FAST_RECONNECT });
    await until(() => at('error').length >= 1, 'the refusal');
    expect(at('error')[0].fields).toMatchObject({ message: 'gateway refused the command subscription', code: 'FAILED_PRECONDITION', error: expect.stringContaining('pool_id "detectors"') });
    detach();
    await until(() => g.router.attachedPools().detectors !== undefined, 'the subscription');
    // The gateway attaches the call before the listener hears that it did (its first response).
    await until(() => at('log', 'subscribed for commands').length >= 1, 'the listener to log its subscription');
    expect(at('log', 'subscribed for commands')[0].fields).toMatchObject({ serviceId: 'worker-1', poolId: 'detectors' });
  });

  it('warns once, naming the gateway and how long, about an outage that outlasts the grace period', async () => {
    const graceMs = 300;
    const port = await absentGatewayPort();
    listener = listenForCommands({ address: `127.0.0.1:${port}`, serviceId: 'capture', handlers: {}, logger, reconnect: FAST_RECONNECT, unavailableGraceMs: graceMs });
    await until(() => at('warn').length === 1, 'the warning');
    const failuresAtWarning = at('debug', UNAVAILABLE).length;
    await until(() => at('debug', UNAVAILABLE).length >= failuresAtWarning + 3, 'three more failed attempts');
    expect(at('warn')).toEqual([{ level: 'warn', fields: expect.objectContaining({ message: UNAVAILABLE, address: `127.0.0.1:${port}` }) }]);
    expect(at('warn')[0].fields.unavailableForMs).toBeGreaterThanOrEqual(graceMs);
    // The gateway comes back: the recovery says how long it lasted, and a later outage warns again.
    gateway = await startGateway({ port });
    const l = listener;
    await until(() => l.connected, 'the subscription');
    expect(at('log', 'subscribed for commands')[0].fields.unavailableForMs).toBeGreaterThanOrEqual(graceMs);
    stopGateway(gateway);
    gateway = undefined;
    await until(() => at('warn').length === 2, 'the warning about the second outage');
  });
});
