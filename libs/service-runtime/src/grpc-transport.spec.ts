// GrpcTransport in a real Nest microservice on loopback: a controller's @GrpcMethod and
// @GrpcStreamCall handlers answer each kind of call, guards and thrown statuses reach the client,
// a contract method without a handler stops start-up, and the stop signal ends open streams.
import * as grpc from '@grpc/grpc-js';
import { ConsoleLogger, Controller, INestMicroservice, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GrpcMethod, GrpcStreamCall, RpcException } from '@nestjs/microservices';
import {
  FrameSupplierClient,
  FrameSupplierService,
  GetStatsResponse,
  ListRingsRequest,
  ListRingsResponse,
  PROTO_FILES,
  PublishRequest,
  PublishResponse,
  PullRequest,
  PullResponse,
  SERVICE_NAMES,
  SubscribeRequest,
  SubscribeResponse,
} from '@framewire/proto';
import { testFrame } from '@framewire/testing';
import { ServiceConfig } from './config';
import { DEFAULT_CONNECTION_LIMITS } from './connection-limits';
import { GrpcBearerTokenGuard } from './grpc-token.guard';
import { GrpcTransport } from './grpc-transport';
import { secretText } from './secret';
import { tokenMetadata } from '@framewire/grpc-client';
import { ServiceRuntimeModule } from './service-module';

const TOKEN = secretText('a-token-of-sixteen-characters');
const SERVICE = 'FrameSupplier';

/** A FrameSupplier whose every method shows how the transport called it. */
@Controller()
class ProbeController {
  readonly stopped: string[] = [];

  constructor(private readonly transport: GrpcTransport) {}

  @GrpcMethod(SERVICE, 'getStats')
  getStats(request: unknown, metadata: grpc.Metadata, call: grpc.ServerUnaryCall<unknown, unknown>): GetStatsResponse {
    // Echoes what it was handed, as refused worker ids: one per argument Nest's own gRPC transport passes.
    const seen = [request !== undefined, metadata instanceof grpc.Metadata, typeof call?.getPeer === 'function'];
    return { stats: { streams: [], workers: [], refused: seen.map((ok, i) => ({ workerId: `${i}:${ok}`, reason: 0, count: 0, lastRefusedTimeUs: 0, streamId: '', caller: '', message: '' })), pools: [] } };
  }

  @GrpcMethod(SERVICE, 'listRings')
  @UseGuards(GrpcBearerTokenGuard)
  async listRings(request: ListRingsRequest): Promise<ListRingsResponse> {
    if (request.streamId === 'bad') throw new RpcException({ code: grpc.status.INVALID_ARGUMENT, message: 'stream_id: bad is bad' });
    if (request.streamId === 'boom') throw new Error('a bug');
    return { rings: [{ ringName: `ring-of-${request.streamId}`, streamId: request.streamId }] };
  }

  @GrpcStreamCall(SERVICE, 'publish')
  @UseGuards(GrpcBearerTokenGuard)
  publish(call: grpc.ServerReadableStream<PublishRequest, PublishResponse>, callback: grpc.sendUnaryData<PublishResponse>): void {
    let frames = 0;
    call.on('data', () => frames++);
    call.on('end', () => callback(null, { framesReceived: frames, inboxDrops: 0 }));
  }

  @GrpcStreamCall(SERVICE, 'subscribe')
  @UseGuards(GrpcBearerTokenGuard)
  subscribe(call: grpc.ServerWritableStream<SubscribeRequest, SubscribeResponse>): void {
    // Open until the service stops.
    call.write({ delivery: { frame: testFrame(call.request.streamId, 1, 4), droppedSinceLast: 0, sentTimeUs: 1, poolId: '', batchRemaining: 0 } });
    this.transport.stopSignal.addEventListener('abort', () => {
      this.stopped.push(call.request.workerId);
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'stopping' });
    });
  }

  @GrpcStreamCall(SERVICE, 'pull')
  @UseGuards(GrpcBearerTokenGuard)
  pull(call: grpc.ServerDuplexStream<PullRequest, PullResponse>): void {
    call.on('data', (request: PullRequest) => {
      if (request.credits !== undefined) call.write({ delivery: { frame: testFrame('cam-1', request.credits, 4), droppedSinceLast: 0, sentTimeUs: 1, poolId: '', batchRemaining: 0 } });
    });
    call.on('end', () => call.end());
  }
}

@Module({ controllers: [ProbeController] })
class ProbeModule {}

/** ListRings without GetStats: a contract left half implemented. */
@Controller()
class HalfController {
  @GrpcMethod(SERVICE, 'listRings')
  listRings(): ListRingsResponse {
    return { rings: [] };
  }
}

@Module({ controllers: [HalfController] })
class HalfModule {}

const logger = new ConsoleLogger('test', { logLevels: [] });

function config(token = TOKEN): ServiceConfig {
  return {
    serviceName: 'test',
    logLevel: 'error',
    logFormat: 'json',
    grpcHost: '127.0.0.1',
    grpcPort: 0,
    shutdownTimeoutMs: 2000,
    connectionLimits: DEFAULT_CONNECTION_LIMITS,
    security: { token },
  };
}

async function start(module: new () => unknown): Promise<{ app: INestMicroservice; transport: GrpcTransport; client: FrameSupplierClient }> {
  const transport = new GrpcTransport({
    host: '127.0.0.1',
    port: 0,
    protoFiles: PROTO_FILES,
    services: [{ name: SERVICE_NAMES.frameSupplier, definition: FrameSupplierService }],
    logger,
    drainTimeoutMs: 500,
  });
  const app = await NestFactory.createMicroservice(
    { module: class Root {}, imports: [ServiceRuntimeModule.forRoot(config(), logger, transport), module] },
    { strategy: transport, logger: false },
  );
  await app.listen();
  const client = new FrameSupplierClient(`127.0.0.1:${transport.server.port}`, grpc.credentials.createInsecure());
  return { app, transport, client };
}

const unary = <T>(invoke: (callback: (err: grpc.ServiceError | null, value?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => invoke((err, value) => (err ? reject(err) : resolve(value as T))));

describe('GrpcTransport', () => {
  let running: Awaited<ReturnType<typeof start>> | undefined;

  afterEach(async () => {
    running?.client.close();
    await running?.app.close();
    running = undefined;
  });

  it("calls a unary handler with Nest's gRPC arguments (request, metadata, call) and answers its value", async () => {
    running = await start(ProbeModule);
    const { client } = running;
    const reply = await unary<GetStatsResponse>((cb) => client.getStats({}, cb));
    expect(reply.stats?.refused.map((r) => r.workerId)).toEqual(['0:true', '1:true', '2:true']);
    const rings = await unary<ListRingsResponse>((cb) => client.listRings({ streamId: 'cam-1' }, tokenMetadata(TOKEN), cb));
    expect(rings.rings).toEqual([{ ringName: 'ring-of-cam-1', streamId: 'cam-1' }]);
  });

  it('turns a thrown status into that status, a bug into INTERNAL without its message, and a refused guard into UNAUTHENTICATED', async () => {
    running = await start(ProbeModule);
    const { client } = running;
    await expect(unary((cb) => client.listRings({ streamId: 'bad' }, tokenMetadata(TOKEN), cb))).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'stream_id: bad is bad',
    });
    await expect(unary((cb) => client.listRings({ streamId: 'boom' }, tokenMetadata(TOKEN), cb))).rejects.toMatchObject({
      code: grpc.status.INTERNAL,
      details: 'internal error',
    });
    await expect(unary((cb) => client.listRings({ streamId: 'cam-1' }, cb))).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: expect.stringContaining('missing bearer token'),
    });
  });

  it('hands client-streaming handlers the call and the callback, and bidirectional ones the call', async () => {
    running = await start(ProbeModule);
    const { client } = running;
    const published = new Promise<PublishResponse>((resolve, reject) => {
      const call = client.publish(tokenMetadata(TOKEN), (err, reply) => (err ? reject(err) : resolve(reply as PublishResponse)));
      for (let i = 1; i <= 3; i++) call.write({ frame: testFrame('cam-1', i, 4) });
      call.end();
    });
    expect((await published).framesReceived).toBe(3);

    const pull = client.pull(tokenMetadata(TOKEN));
    const sequences: number[] = [];
    const ended = new Promise<void>((resolve) => pull.on('end', () => resolve()));
    pull.on('data', (r: PullResponse) => sequences.push(r.delivery?.frame?.sequence ?? -1));
    pull.write({ credits: 7 });
    pull.write({ credits: 9 });
    pull.end();
    await ended;
    expect(sequences).toEqual([7, 9]);
  });

  it('ends a streaming call whose guard refuses it with UNAUTHENTICATED', async () => {
    running = await start(ProbeModule);
    const call = running.client.subscribe(SubscribeRequest.fromPartial({ workerId: 'w', streamId: 'cam-1' }));
    const error = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    expect(error).toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: expect.stringContaining('missing bearer token') });
  });

  it('aborts its stop signal before the server drains, so open streams end at once on close', async () => {
    running = await start(ProbeModule);
    const { app, client } = running;
    const call = client.subscribe(SubscribeRequest.fromPartial({ workerId: 'w-1', streamId: 'cam-1' }), tokenMetadata(TOKEN));
    await new Promise((resolve) => call.once('data', resolve));
    const error = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    await app.close();
    expect(await error).toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'stopping' });
    expect(app.get(ProbeController).stopped).toEqual(['w-1']);
    running.client.close();
    running = undefined;
  });

  it('refuses to start a contract with a method no controller handles, naming the method and the decorator', async () => {
    await expect(start(HalfModule)).rejects.toThrow(
      "no Nest handler for /framewire.v1.FrameSupplier/Publish: a controller method with @GrpcStreamCall('FrameSupplier', 'publish') is required",
    );
  });
});
