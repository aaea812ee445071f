// The streaming command calls over real gRPC on loopback: ListenCommands (a service's commands down
// and its acks up one call; the listener's fallback to SubscribeCommands + AcknowledgeCommand on a
// gateway without it) and StreamCommands (a client's many commands and their answers on one call).
import * as grpc from '@grpc/grpc-js';
import { connect } from 'node:http2';
import { AckStatus, Command, CommandRouterClient, CommandRouterService, ListenCommandsRequest, ListenCommandsResponse, StreamCommandsRequest, StreamCommandsResponse } from '@framewire/proto';
import { commandRouterGrpcService, MAX_COMMANDS_IN_FLIGHT_PER_STREAM } from './grpc-calls';
import { CommandCallError, CommandListener, CommandRouter, listenForCommands, openCommandStream } from './index';

const quietLogger = { log: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const FAST_RECONNECT = { initialMs: 20, maxMs: 100 };

interface Gateway {
  server: grpc.Server;
  router: CommandRouter;
  address: string;
  /** AcknowledgeCommand calls served. */
  unaryAcks: number;
}

/** A gateway over a plain grpc.Server; `withoutListen` serves it as a gateway from before ListenCommands. */
async function startGateway(options: { withoutListen?: boolean; router?: CommandRouter } = {}): Promise<Gateway> {
  const router = options.router ?? new CommandRouter();
  const server = new grpc.Server();
  const service = commandRouterGrpcService(router, quietLogger);
  const gateway = { server, router, address: '', unaryAcks: 0 };
  const implementation: Partial<typeof service> = {
    ...service,
    acknowledgeCommand: (call, callback) => {
      gateway.unaryAcks++;
      service.acknowledgeCommand(call, callback);
    },
  };
  if (options.withoutListen === true) delete implementation.listenCommands;
  server.addService(CommandRouterService, implementation as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  gateway.address = `127.0.0.1:${port}`;
  return gateway;
}

function stopGateway(gateway: Gateway): void {
  gateway.router.close();
  gateway.server.forceShutdown();
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const command = (over: Partial<Command>): Command => ({ requestId: 'req-1', target: 'capture', type: 'capture.set_fps', payloadJson: '{"fps":10}', timeoutMs: 0, ...over });

/** A raw ListenCommands call; resolves with its status when it ends. */
function rawListen(client: CommandRouterClient) {
  const call = client.listenCommands();
  const commands: Command[] = [];
  call.on('error', () => undefined);
  call.on('data', (r: ListenCommandsResponse) => r.command && commands.push(r.command));
  const status = new Promise<grpc.StatusObject>((resolve) => {
    call.on('error', (e: grpc.ServiceError) => resolve(e));
    call.on('status', (s: grpc.StatusObject) => s.code === grpc.status.OK && resolve(s));
  });
  const headers = new Promise<void>((resolve) => call.on('metadata', () => resolve()));
  return { call, commands, status, headers, write: (r: ListenCommandsRequest) => call.write(r) };
}

describe('ListenCommands: commands down and acks up one call', () => {
  let gateway: Gateway;
  let client: CommandRouterClient;
  let listener: CommandListener | undefined;

  afterEach(async () => {
    await listener?.close();
    listener = undefined;
    client.close();
    stopGateway(gateway);
  });

  const start = async (options: Parameters<typeof startGateway>[0] = {}) => {
    gateway = await startGateway(options);
    client = new CommandRouterClient(gateway.address, grpc.credentials.createInsecure());
  };
  const listen = (serviceId = 'capture') => {
    listener = listenForCommands({
      address: gateway.address,
      serviceId,
      handlers: { 'capture.set_fps': ({ fps }: { fps: number }) => `fps is ${fps}` },
      logger: quietLogger,
      reconnect: FAST_RECONNECT,
    });
    return listener;
  };

  it('the listener acknowledges on its command call: no AcknowledgeCommand call is made', async () => {
    await start();
    const l = listen();
    await until(() => l.connected, 'the subscription');
    const stream = openCommandStream(client);
    for (let i = 0; i < 5; i++) {
      const { ack } = await stream.send(command({ requestId: `r-${i}`, payloadJson: `{"fps":${i + 1}}` }));
      expect(ack).toMatchObject({ requestId: `r-${i}`, status: AckStatus.ACK_STATUS_SUCCESS, message: `fps is ${i + 1}`, responder: 'capture' });
    }
    stream.end();
    expect(l.stats).toMatchObject({ received: 5, succeeded: 5, acksOnStream: 5, acksUnary: 0 });
    expect(gateway.unaryAcks).toBe(0);
  });

  it('audits every applied command in batched lines written after the acks, and the rest at close', async () => {
    await start();
    const lines: Record<string, unknown>[] = [];
    const l = listenForCommands({
      address: gateway.address,
      serviceId: 'capture',
      handlers: { 'capture.set_fps': ({ fps }: { fps: number }) => `fps is ${fps}`, 'capture.pause': () => Promise.reject(new Error('no source')) },
      logger: { ...quietLogger, log: (entry) => lines.push(entry) },
      reconnect: FAST_RECONNECT,
      auditFlushMs: 60_000,
    });
    listener = l;
    await until(() => l.connected, 'the subscription');
    lines.length = 0;
    const stream = openCommandStream(client);
    for (let i = 0; i < 3; i++) await stream.send(command({ requestId: `r-${i}`, payloadJson: `{"fps":${i + 1}}` }));
    const { ack } = await stream.send(command({ requestId: 'r-3', type: 'capture.pause', payloadJson: '' }));
    expect(ack).toMatchObject({ status: AckStatus.ACK_STATUS_ERROR, message: 'no source' });
    stream.end();
    // Acknowledged, and no line yet: the audit does not stand between a command and its ack.
    expect(lines).toEqual([]);
    await l.close();
    expect(lines).toEqual([
      {
        message: 'commands applied',
        count: 4,
        commands: [
          { requestId: 'r-0', type: 'capture.set_fps', status: 'ACK_STATUS_SUCCESS', detail: 'fps is 1' },
          { requestId: 'r-1', type: 'capture.set_fps', status: 'ACK_STATUS_SUCCESS', detail: 'fps is 2' },
          { requestId: 'r-2', type: 'capture.set_fps', status: 'ACK_STATUS_SUCCESS', detail: 'fps is 3' },
          { requestId: 'r-3', type: 'capture.pause', status: 'ACK_STATUS_ERROR', detail: 'no source' },
        ],
      },
    ]);
  });

  it('a gateway without ListenCommands gets SubscribeCommands and AcknowledgeCommand, as before', async () => {
    await start({ withoutListen: true });
    const l = listen();
    await until(() => l.connected, 'the subscription');
    const stream = openCommandStream(client);
    const { ack } = await stream.send(command({ payloadJson: '{"fps":7}' }));
    stream.end();
    expect(ack).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, message: 'fps is 7', responder: 'capture' });
    expect(l.stats).toMatchObject({ acksOnStream: 0, acksUnary: 1, reconnects: 0 });
    expect(gateway.unaryAcks).toBe(1);
  });

  it('a first request without subscribe ends the call INVALID_ARGUMENT naming the index and the field', async () => {
    await start();
    const raw = rawListen(client);
    raw.write({ ack: { requestId: 'x', status: AckStatus.ACK_STATUS_SUCCESS, message: '', responder: '', latencyUs: 0 } });
    const status = await raw.status;
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toContain('request 0');
    expect(status.details).toContain('subscribe is required');
  });

  it('a malformed service id in subscribe is INVALID_ARGUMENT naming subscribe.service_id', async () => {
    await start();
    const raw = rawListen(client);
    raw.write({ subscribe: { serviceId: 'no spaces allowed', poolId: '' } });
    const status = await raw.status;
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toContain('subscribe.service_id');
    expect(gateway.router.attachedServices()).toEqual([]);
  });

  it.each([
    ['an ack without request_id', { ack: { requestId: '', status: AckStatus.ACK_STATUS_SUCCESS, message: '', responder: '', latencyUs: 0 } }, 'ack.request_id'],
    ['an ack in the name of another service', { ack: { requestId: 'r', status: AckStatus.ACK_STATUS_SUCCESS, message: '', responder: 'supplier', latencyUs: 0 } }, 'ack.responder'],
    ['a second subscribe', { subscribe: { serviceId: 'supplier', poolId: '' } }, 'subscribe is allowed in the first request only'],
    ['a request with neither', {}, 'ack is required'],
  ])('%s ends the call INVALID_ARGUMENT naming request 1 and the field, and detaches the service', async (_name, request, field) => {
    await start();
    const raw = rawListen(client);
    raw.write({ subscribe: { serviceId: 'capture', poolId: '' } });
    await raw.headers;
    expect(gateway.router.attachedServices()).toEqual(['capture']);
    raw.write(request as ListenCommandsRequest);
    const status = await raw.status;
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toContain('request 1');
    expect(status.details).toContain(field);
    await until(() => gateway.router.attachedServices().length === 0, 'the detach');
  });

  it("a service's ack answers only its own commands", async () => {
    await start();
    const capture = rawListen(client);
    capture.write({ subscribe: { serviceId: 'capture', poolId: '' } });
    const supplier = rawListen(client);
    supplier.write({ subscribe: { serviceId: 'supplier', poolId: '' } });
    await Promise.all([capture.headers, supplier.headers]);
    const answer = gateway.router.send(command({ requestId: 'for-capture', timeoutMs: 300 }));
    await until(() => capture.commands.length === 1, 'the command');
    supplier.write({ ack: { requestId: 'for-capture', status: AckStatus.ACK_STATUS_SUCCESS, message: 'not mine', responder: '', latencyUs: 0 } });
    const { ack } = await answer;
    expect(ack?.status).toBe(AckStatus.ACK_STATUS_TIMEOUT);
    expect(gateway.router.stats().lateAcks).toBe(1);
    capture.call.cancel();
    supplier.call.cancel();
  });
});

describe('StreamCommands: many commands on one call', () => {
  let gateway: Gateway;
  let client: CommandRouterClient;
  let listener: CommandListener | undefined;
  const applied: number[] = [];

  beforeEach(async () => {
    applied.length = 0;
    gateway = await startGateway({ router: new CommandRouter({ maxPendingPerTarget: 8 }) });
    client = new CommandRouterClient(gateway.address, grpc.credentials.createInsecure());
  });

  afterEach(async () => {
    await listener?.close();
    listener = undefined;
    client.close();
    stopGateway(gateway);
  });

  const listen = async (delayMs = 0) => {
    listener = listenForCommands({
      address: gateway.address,
      serviceId: 'capture',
      handlers: {
        'capture.set_fps': async ({ fps }: { fps: number }) => {
          applied.push(fps);
          if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
          return `fps is ${fps}`;
        },
      },
      logger: quietLogger,
      reconnect: FAST_RECONNECT,
    });
    const l = listener;
    await until(() => l.connected, 'the subscription');
  };

  it('answers every command by request id, and one target applies them in the order sent', async () => {
    await listen();
    const stream = openCommandStream(client);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => stream.send(command({ requestId: `r-${i}`, payloadJson: `{"fps":${i + 1}}` }))));
    stream.end();
    expect(answers.map((a) => a.ack?.requestId)).toEqual(Array.from({ length: 8 }, (_, i) => `r-${i}`));
    expect(answers.every((a) => a.ack?.status === AckStatus.ACK_STATUS_SUCCESS)).toBe(true);
    expect(applied).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('a duplicate request id gets the first answer and the service applies it once', async () => {
    await listen(20);
    const stream = openCommandStream(client);
    const [a, b] = await Promise.all([stream.send(command({ requestId: 'dup', payloadJson: '{"fps":3}' })), stream.send(command({ requestId: 'dup', payloadJson: '{"fps":3}' }))]);
    const c = await stream.send(command({ requestId: 'dup', payloadJson: '{"fps":3}' }));
    stream.end();
    expect(a.ack).toEqual(b.ack);
    expect(c.ack).toEqual(a.ack);
    expect(applied).toEqual([3]);
  });

  it('a command past its deadline is answered TIMEOUT at its timeout_ms, and the call goes on', async () => {
    const silent = rawListen(client);
    silent.write({ subscribe: { serviceId: 'capture', poolId: '' } });
    await silent.headers;
    const stream = openCommandStream(client);
    const { ack } = await stream.send(command({ requestId: 'late', timeoutMs: 200 }));
    expect(ack).toMatchObject({ status: AckStatus.ACK_STATUS_TIMEOUT, message: 'no acknowledgement from "capture" within 200 ms' });
    silent.call.cancel();
    const next = await stream.send(command({ requestId: 'after', target: 'nobody' }));
    expect(next.ack?.status).toBe(AckStatus.ACK_STATUS_UNKNOWN_TARGET);
    stream.end();
  });

  it('refusals are answers with error_code and a message naming the field; the call goes on', async () => {
    await listen();
    const stream = openCommandStream(client);
    await expect(stream.send(command({ requestId: 'bad', payloadJson: '[1]' }))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('payload_json') });
    await stream.send(command({ requestId: 'used', payloadJson: '{"fps":4}' }));
    await expect(stream.send(command({ requestId: 'used', payloadJson: '{"fps":5}' }))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('request_id') });
    const ok = await stream.send(command({ requestId: 'good', payloadJson: '{"fps":6}' }));
    expect(ok.ack?.status).toBe(AckStatus.ACK_STATUS_SUCCESS);
    stream.end();
    expect(applied).toEqual([4, 6]);
  });

  it('a request without a command is answered INVALID_ARGUMENT naming its index', async () => {
    const call = client.streamCommands();
    call.on('error', () => undefined);
    const responses: StreamCommandsResponse[] = [];
    call.on('data', (r: StreamCommandsResponse) => responses.push(r));
    call.write({ command: undefined });
    call.write({ command: undefined });
    await until(() => responses.length === 2, 'the answers');
    call.end();
    expect(responses.map((r) => r.errorCode)).toEqual([grpc.status.INVALID_ARGUMENT, grpc.status.INVALID_ARGUMENT]);
    expect(responses.map((r) => r.errorMessage)).toEqual(['StreamCommands request 0: command is required', 'StreamCommands request 1: command is required']);
  });

  it('more commands for a target than it may have waiting are answered RESOURCE_EXHAUSTED', async () => {
    const silent = rawListen(client);
    silent.write({ subscribe: { serviceId: 'capture', poolId: '' } });
    await silent.headers;
    const stream = openCommandStream(client);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => stream.send(command({ requestId: `b-${i}`, timeoutMs: 300 }))));
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as CommandCallError);
    expect(refused).toHaveLength(2);
    expect(refused.every((e) => e.code === grpc.status.RESOURCE_EXHAUSTED && e.details.includes('limit 8'))).toBe(true);
    silent.call.cancel();
    stream.end();
  });

  it('a client that sends and never reads gets a bounded number of its commands routed, and the rest once it reads', async () => {
    // A raw HTTP/2 client that never reads its response stream: unlike grpc-js's, its transport stops
    // taking the gateway's answers once its window is full, so only the gateway's bound stops it.
    const total = 20_000;
    const session = connect(`http://${gateway.address}`);
    const stream = session.request({ ':method': 'POST', ':path': '/framewire.v1.CommandRouter/StreamCommands', 'content-type': 'application/grpc', te: 'trailers' });
    stream.pause();
    session.on('error', () => undefined);
    stream.on('error', () => undefined);
    const payloadJson = JSON.stringify({ fps: 1, pad: 'x'.repeat(200) });
    for (let i = 0; i < total; i++) {
      const message = StreamCommandsRequest.encode({ command: command({ requestId: `n-${i}`, target: 'nobody', payloadJson }) }).finish();
      const frame = Buffer.alloc(5 + message.length);
      frame.writeUInt32BE(message.length, 1);
      frame.set(message, 5);
      stream.write(frame);
    }
    // Unread, the gateway stops routing: wait until its count holds still (for half a second).
    let last = -1;
    for (let now = gateway.router.stats().unknownTarget; now !== last || now === 0; now = gateway.router.stats().unknownTarget) {
      last = now;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(last).toBeGreaterThanOrEqual(MAX_COMMANDS_IN_FLIGHT_PER_STREAM);
    expect(last).toBeLessThan(total / 4);
    stream.on('data', () => undefined).resume();
    await until(() => gateway.router.stats().unknownTarget === total, 'every command routed once the client reads', 60_000);
    stream.close();
    session.close();
  }, 90_000);

  it('cancelling the call rejects the pending sends', async () => {
    const silent = rawListen(client);
    silent.write({ subscribe: { serviceId: 'capture', poolId: '' } });
    await silent.headers;
    const stream = openCommandStream(client);
    const pending = stream.send(command({ requestId: 'never', timeoutMs: 5_000 }));
    await until(() => silent.commands.length === 1, 'the delivery');
    stream.cancel();
    await expect(pending).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    await expect(stream.send(command({ requestId: 'after-cancel' }))).rejects.toBeInstanceOf(CommandCallError);
    silent.call.cancel();
  });
});
