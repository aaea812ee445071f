// HealthCheckClient against the grpc.health.v1 service a real GrpcServerHost serves on loopback:
// the statuses it reports, by service, and the errors of an unknown service and of no server.
import * as grpc from '@grpc/grpc-js';
import { ConsoleLogger } from '@nestjs/common';
import { FrameSupplierService, PROTO_FILES, SERVICE_NAMES } from '@framewire/proto';
import { GrpcServerHost } from '@framewire/service-runtime';
import { HealthCheckClient } from './health-client';

const DEADLINE_MS = 5_000;

describe('HealthCheckClient', () => {
  let host: GrpcServerHost;
  let client: HealthCheckClient;

  beforeEach(async () => {
    host = new GrpcServerHost({
      host: '127.0.0.1',
      port: 0,
      protoFiles: PROTO_FILES,
      services: [{ name: SERVICE_NAMES.frameSupplier, definition: FrameSupplierService, implementation: {} }],
      logger: new ConsoleLogger('test', { logLevels: [] }),
      drainTimeoutMs: 100,
    });
    await host.start();
    client = new HealthCheckClient(`127.0.0.1:${host.port}`, grpc.credentials.createInsecure());
  });

  afterEach(async () => {
    client.close();
    await host.stop();
  });

  it('reads SERVING and NOT_SERVING for the server and for a named service', async () => {
    expect(await client.check({ service: '' }, DEADLINE_MS)).toEqual({ status: 'SERVING' });
    expect(await client.check({ service: SERVICE_NAMES.frameSupplier }, DEADLINE_MS)).toEqual({ status: 'SERVING' });
    host.setServing('NOT_SERVING');
    expect(await client.check({ service: '' }, DEADLINE_MS)).toEqual({ status: 'NOT_SERVING' });
    expect(await client.check({ service: SERVICE_NAMES.frameSupplier }, DEADLINE_MS)).toEqual({ status: 'NOT_SERVING' });
  });

  it('rejects with NOT_FOUND for a service the server does not know', async () => {
    await expect(client.check({ service: 'framewire.v1.NoSuchService' }, DEADLINE_MS)).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('rejects with the call status when no server answers', async () => {
    const nowhere = new HealthCheckClient('127.0.0.1:1', grpc.credentials.createInsecure());
    try {
      await expect(nowhere.check({ service: '' }, DEADLINE_MS)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    } finally {
      nowhere.close();
    }
  });
});
