// The gateway's gRPC services as the running service serves them (GatewayModule on GrpcTransport,
// with FW_AUTH_TOKEN): GrpcBearerTokenGuard refuses every ResultHub and CommandRouter call without
// the right bearer token before the hub or the router sees it, and lets those with it through.
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRouter, listenForCommands } from '@framewire/commands';
import { AckStatus, Command, CommandAck, CommandRouterClient, PublishResultsResponse, Result, ResultHubClient, ResultKind } from '@framewire/proto';
import { exampleResult, ResultHub } from '@framewire/results';
import { createServiceLogger, secretText, startService, tokenMetadata } from '@framewire/service-runtime';
import { loadGatewayConfig } from './config';
import { GATEWAY_SERVICE } from './gateway.module';

const TOKEN = 'a-token-of-sixteen-chars';
const NOWHERE = '127.0.0.1:1';
const WAIT_TIMEOUT_MS = 10_000;
const K = ResultKind;
const quietLogger = { log: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const FAST_RECONNECT = { initialMs: 20, maxMs: 100 };

interface Gateway {
  hub: ResultHub;
  router: CommandRouter;
  grpcAddress: string;
  results: ResultHubClient;
  commands: CommandRouterClient;
}

const stops: (() => Promise<void>)[] = [];

async function startGateway(): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), 'fw-gateway-grpc-'));
  const config = loadGatewayConfig({
    FW_GRPC_HOST: '127.0.0.1',
    FW_GRPC_PORT: '0',
    FW_HTTP_PORT: '0',
    FW_ARCHIVE_DIR: dir,
    FW_CAPTURE_ADDRESSES: NOWHERE,
    FW_SUPPLIER_ADDRESS: NOWHERE,
    FW_SHUTDOWN_TIMEOUT_MS: '5000',
    FW_AUTH_TOKEN: TOKEN,
  });
  const running = await startService(config, GATEWAY_SERVICE, createServiceLogger('gateway', 'error', 'json'));
  const grpcAddress = `127.0.0.1:${running.grpcPort}`;
  const gateway: Gateway = {
    hub: running.app.get(ResultHub),
    router: running.app.get(CommandRouter),
    grpcAddress,
    results: new ResultHubClient(grpcAddress, grpc.credentials.createInsecure()),
    commands: new CommandRouterClient(grpcAddress, grpc.credentials.createInsecure()),
  };
  stops.push(async () => {
    gateway.results.close();
    gateway.commands.close();
    await running.stop('test');
    await rm(dir, { recursive: true, force: true });
  });
  return gateway;
}

afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function publish(client: ResultHubClient, results: Result[], metadata = new grpc.Metadata()): Promise<PublishResultsResponse> {
  return new Promise((resolve, reject) => {
    const call = client.publishResults(metadata, (err, response) => (err ? reject(err) : resolve(response)));
    for (const result of results) call.write({ result });
    call.end();
  });
}

function grpcError(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: grpc.ServiceError) => error,
  );
}

function results(streamId: string, workerId: string, frames: number, kinds: ResultKind[]): Result[] {
  const out: Result[] = [];
  for (let seq = 1; seq <= frames; seq++) for (const kind of kinds) out.push(exampleResult(kind, { streamId, workerId, frameSequence: seq }));
  return out;
}

function send(client: CommandRouterClient, command: Partial<Command>, metadata = new grpc.Metadata()): Promise<CommandAck> {
  const full: Command = { requestId: 'req-1', target: 'capture', type: 'capture.pause', payloadJson: '', timeoutMs: 0, ...command };
  return new Promise((resolve, reject) =>
    client.sendCommand({ command: full }, metadata, { deadline: Date.now() + 10_000 }, (err, response) => (err ? reject(err) : resolve(response?.ack as CommandAck))),
  );
}

describe('the gateway\'s ResultHub with a token', () => {
  it('refuses publishing without the right token with UNAUTHENTICATED', async () => {
    const g = await startGateway();
    const one = results('cam-1', 'w1', 1, [K.RESULT_KIND_TRACKS]);
    expect((await grpcError(publish(g.results, one))).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await grpcError(publish(g.results, one, tokenMetadata(secretText('the-wrong-token-16chars'))))).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await publish(g.results, one, tokenMetadata(secretText(TOKEN)))).resultsReceived).toBe(1);
    expect(g.hub.stats().published).toBe(1);
  });

  it('refuses subscribing and replaying without the right token with UNAUTHENTICATED, and serves them with it', async () => {
    const g = await startGateway();
    const subscribeStatus = (metadata: grpc.Metadata) =>
      new Promise<grpc.status>((resolve) => {
        const call = g.results.subscribeResults({ streamId: '', workerId: '', kinds: [] }, metadata);
        call.on('error', (error: grpc.ServiceError) => resolve(error.code));
        // Past the token check the call stays open: its metadata says so.
        call.on('metadata', () => {
          call.cancel();
          resolve(grpc.status.OK);
        });
      });
    const replayStatus = (metadata: grpc.Metadata) =>
      new Promise<grpc.status>((resolve) => {
        const call = g.results.replay({ streamId: 'cam-1', kinds: [], fromSequence: 0, toSequence: 0, fromTimeUs: 0, toTimeUs: 0, recordedPace: false }, metadata);
        call.on('data', () => undefined);
        call.on('error', (error: grpc.ServiceError) => resolve(error.code));
        call.on('end', () => resolve(grpc.status.OK));
      });
    for (const metadata of [new grpc.Metadata(), tokenMetadata(secretText('the-wrong-token-16chars'))]) {
      expect(await subscribeStatus(metadata)).toBe(grpc.status.UNAUTHENTICATED);
      expect(await replayStatus(metadata)).toBe(grpc.status.UNAUTHENTICATED);
    }
    expect(g.hub.subscriberCount).toBe(0);
    expect(await replayStatus(tokenMetadata(secretText(TOKEN)))).toBe(grpc.status.OK);
    const subscribed = g.results.subscribeResults({ streamId: '', workerId: '', kinds: [] }, tokenMetadata(secretText(TOKEN)));
    subscribed.on('error', () => undefined);
    try {
      await until(() => g.hub.subscriberCount === 1, 'the subscription with the token');
    } finally {
      subscribed.cancel();
    }
  });

});

describe('the gateway\'s CommandRouter with a token', () => {
  it('refuses every call without the right bearer token (UNAUTHENTICATED)', async () => {
    const g = await startGateway();
    await expect(send(g.commands, {})).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(send(g.commands, {}, tokenMetadata(secretText('wrong-token-of-16-chars')))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const ack = { requestId: 'x', status: AckStatus.ACK_STATUS_SUCCESS, message: '', responder: 'capture', latencyUs: 0 };
    await expect(new Promise((resolve, reject) => g.commands.acknowledgeCommand({ ack }, (err, r) => (err ? reject(err) : resolve(r))))).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    const stream = g.commands.subscribeCommands({ serviceId: 'capture' }, tokenMetadata(secretText('wrong-token-of-16-chars')));
    const status = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(g.router.attachedServices()).toEqual([]);
  });

  it('a listener and a caller with the token get through', async () => {
    const g = await startGateway();
    const listener = listenForCommands({
      address: g.grpcAddress,
      serviceId: 'capture',
      handlers: { 'capture.pause': () => 'paused' },
      metadata: tokenMetadata(secretText(TOKEN)),
      logger: quietLogger,
      reconnect: FAST_RECONNECT,
    });
    try {
      await until(() => listener.connected, 'the subscription');
      const ack = await send(g.commands, {}, tokenMetadata(secretText(TOKEN)));
      expect(ack).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, message: 'paused' });
    } finally {
      await listener.close();
    }
  });
});
