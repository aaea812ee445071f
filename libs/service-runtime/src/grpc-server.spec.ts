import * as grpc from '@grpc/grpc-js';
import { ConsoleLogger } from '@nestjs/common';
import { FrameSupplierClient, FrameSupplierServer, FrameSupplierService, PROTO_FILES, PublishRequest, SERVICE_NAMES, SubscribeRequest } from '@framewire/proto';
import { checkHealth } from '@framewire/grpc-client';
import { callWithRawRequests, knownMethods, listReflectedServices } from '@framewire/testing';
import { GrpcServerHost, OVERALL_HEALTH, STANDARD_SERVICE_NAMES } from './grpc-server';

const DRAIN_MS = 300;

/** A FrameSupplier whose Subscribe never ends and whose GetStats answers at once. */
function endlessSupplier(onSubscribe: () => void): FrameSupplierServer {
  return {
    publish: (_call, callback) => callback(null, { framesReceived: 0, inboxDrops: 0 }),
    subscribe: () => onSubscribe(),
    pull: (call) => call.end(),
    getStats: (_call, callback) => callback(null, { stats: { streams: [], workers: [], refused: [], pools: [] } }),
    listRings: (_call, callback) => callback(null, { rings: [] }),
  };
}

describe('GrpcServerHost', () => {
  let host: GrpcServerHost | undefined;
  let client: FrameSupplierClient | undefined;
  const logger = new ConsoleLogger('test', { logLevels: [] });

  afterEach(async () => {
    client?.close();
    await host?.stop();
    host = client = undefined;
  });

  function start(onSubscribe: () => void = () => undefined) {
    host = new GrpcServerHost({
      host: '127.0.0.1',
      port: 0,
      protoFiles: PROTO_FILES,
      services: [{ name: SERVICE_NAMES.frameSupplier, definition: FrameSupplierService, implementation: endlessSupplier(onSubscribe) }],
      logger,
      drainTimeoutMs: DRAIN_MS,
    });
    return host;
  }

  it('serves its services and reports them SERVING only once started', async () => {
    const h = start();
    expect(h.servingStatus).toBe('NOT_SERVING');
    const port = await h.start();
    expect(await checkHealth(`127.0.0.1:${port}`, OVERALL_HEALTH)).toBe('SERVING');
    expect(await checkHealth(`127.0.0.1:${port}`, SERVICE_NAMES.frameSupplier)).toBe('SERVING');
    client = new FrameSupplierClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const reply = await new Promise((res, rej) =>
      client!.getStats({}, (err, r) => (err ? rej(err) : res(r))),  
    );
    expect(reply).toEqual({ stats: { streams: [], workers: [], refused: [], pools: [] } });
  });

  it('cancels a call still running after the drain timeout and reports NOT_SERVING', async () => {
    let subscribed!: () => void;
    const inFlight = new Promise<void>((r) => (subscribed = r));
    const h = start(() => subscribed());
    const port = await h.start();
    client = new FrameSupplierClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = client.subscribe(SubscribeRequest.fromPartial({ workerId: 'w', streamId: 's' }));
    const ended = new Promise<grpc.ServiceError>((res) => call.on('error', res));
    await inFlight;

    const started = Date.now();
    await h.stop();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(DRAIN_MS - 20);
    expect(took).toBeLessThan(DRAIN_MS + 2000);
    expect(h.servingStatus).toBe('NOT_SERVING');
    const err = await ended;
    expect([grpc.status.CANCELLED, grpc.status.UNAVAILABLE]).toContain(err.code);
  });

  it('lists through reflection its own services and the standard ones, not the rest of the contract', async () => {
    const port = await start().start();
    const listed = await listReflectedServices(port);
    expect([...listed].sort()).toEqual([SERVICE_NAMES.frameSupplier, ...STANDARD_SERVICE_NAMES].sort());
    expect(listed).not.toContain(SERVICE_NAMES.resultHub);
  });

  it('refuses a service that reflection could not describe, naming it', () => {
    expect(
      () =>
        new GrpcServerHost({
          host: '127.0.0.1',
          port: 0,
          protoFiles: [],
          services: [{ name: SERVICE_NAMES.frameSupplier, definition: FrameSupplierService, implementation: endlessSupplier(() => undefined) }],
          logger,
        }),
    ).toThrow(`gRPC service ${SERVICE_NAMES.frameSupplier} is not in the .proto files given for reflection`);
  });

  it('refuses to start on an address it cannot bind, naming it', async () => {
    const first = start();
    const port = await first.start();
    const second = new GrpcServerHost({ host: '127.0.0.1', port, protoFiles: [], services: [], logger });
    await expect(second.start()).rejects.toThrow(`cannot listen for gRPC on 127.0.0.1:${port}`);
    await second.stop();
  });

  describe('requests that are not protobuf of their type', () => {
    /** A truncated varint: no protobuf decoder takes it. */
    const GARBAGE = Buffer.from([0x08, 0xff, 0xff]);
    const method = (path: string) => knownMethods().find((m) => m.path === path)!;
    const events: string[] = [];
    const supplier: FrameSupplierServer = {
      ...endlessSupplier(() => events.push('subscribe handler called')),
      getStats: (_call, callback) => {
        events.push('getStats handler called');
        callback(null, { stats: { streams: [], workers: [], refused: [], pools: [] } });
      },
      publish: (call) => {
        call.on('data', (request: PublishRequest) => events.push(`publish got frame ${request.frame?.sequence}`));
        call.on('cancelled', () => events.push('publish cancelled'));
      },
    };
    let raw: grpc.Client;

    beforeEach(async () => {
      events.length = 0;
      host = new GrpcServerHost({
        host: '127.0.0.1',
        port: 0,
        protoFiles: PROTO_FILES,
        services: [{ name: SERVICE_NAMES.frameSupplier, definition: FrameSupplierService, implementation: supplier }],
        logger,
        drainTimeoutMs: DRAIN_MS,
      });
      raw = new grpc.Client(`127.0.0.1:${await host.start()}`, grpc.credentials.createInsecure());
    });
    afterEach(() => raw.close());

    it.each(['/framewire.v1.FrameSupplier/GetStats', '/framewire.v1.FrameSupplier/Subscribe', '/grpc.health.v1.Health/Check', '/grpc.health.v1.Health/Watch'])(
      'answers %s with INVALID_ARGUMENT naming the method and the message, and never calls its handler',
      async (path) => {
        const outcome = await callWithRawRequests(raw, method(path), [GARBAGE], { deadlineMs: 5_000 });
        expect(grpc.status[outcome.code]).toBe('INVALID_ARGUMENT');
        // The reason is the method's own decoder's (ts-proto's or protobufjs's words).
        expect(outcome.details).toMatch(new RegExp(`^request 0 of this call to ${path} is not a valid request message: malformed protobuf in 3 bytes \\((premature EOF|index out of range.*)\\)$`));
        expect(events).toEqual([]);
      },
    );

    it('ends a client stream at the first message that does not decode, naming its index; the handler has the messages before it and sees the call cancelled', async () => {
      const publish = method('/framewire.v1.FrameSupplier/Publish');
      const frame = (sequence: number) => publish.encodeRequest({ frame: { streamId: 's', sequence, captureTimeUs: 1, width: 1, height: 1, pixelFormat: 0, sizeBytes: 0 } });
      const outcome = await callWithRawRequests(raw, publish, [frame(1), frame(2), GARBAGE, frame(4)], { deadlineMs: 5_000 });
      expect(grpc.status[outcome.code]).toBe('INVALID_ARGUMENT');
      expect(outcome.details).toMatch(/^request 2 of this call to \/framewire.v1.FrameSupplier\/Publish is not a valid request message: malformed protobuf in 3 bytes/);
      await new Promise((r) => setTimeout(r, 50));
      expect(events).toEqual(['publish got frame 1', 'publish got frame 2', 'publish cancelled']);
    });

    it('does the same for server reflection\'s stream, and still answers a request that decodes', async () => {
      const reflection = method('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo');
      const list = reflection.encodeRequest({ listServices: '' });
      const outcome = await callWithRawRequests(raw, reflection, [list, GARBAGE], { deadlineMs: 5_000 });
      expect(grpc.status[outcome.code]).toBe('INVALID_ARGUMENT');
      expect(outcome.details).toMatch(/^request 1 of this call to \/grpc.reflection.v1.ServerReflection\/ServerReflectionInfo is not a valid request message/);
      expect(await callWithRawRequests(raw, reflection, [list, list], { deadlineMs: 5_000 })).toEqual({ code: grpc.status.OK, details: 'OK', responses: 2 });
    });
  });
});
