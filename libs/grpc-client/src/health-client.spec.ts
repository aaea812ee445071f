// The typed health client against a real grpc.health.v1 server on loopback (the package's
// HealthImplementation, as every framewire service serves it).
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { once } from 'node:events';
import { checkHealth, HealthClient } from './health-client';

describe('HealthClient', () => {
  let server: grpc.Server;
  let health: HealthImplementation;
  let address: string;
  beforeAll(async () => {
    server = new grpc.Server();
    health = new HealthImplementation({ '': 'SERVING', 'framewire.v1.FrameSupplier': 'NOT_SERVING' });
    health.addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => server.forceShutdown());

  it('checks the whole server and a named service, by status name', async () => {
    await expect(checkHealth(address)).resolves.toBe('SERVING');
    await expect(checkHealth(address, 'framewire.v1.FrameSupplier')).resolves.toBe('NOT_SERVING');
  });

  it('rejects with the gRPC error for a service the server does not know', async () => {
    await expect(checkHealth(address, 'no.such.Service')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('rejects with UNAVAILABLE when nothing listens', async () => {
    await expect(checkHealth('127.0.0.1:1', '', { deadlineMs: 2_000 })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('watches a service: its status first, then each change', async () => {
    const client = new HealthClient(address);
    const call = client.watch('framewire.v1.FrameSupplier');
    const statuses: string[] = [];
    call.on('error', () => undefined);
    call.on('data', (reply) => statuses.push(reply.status));
    try {
      await once(call, 'data');
      health.setStatus('framewire.v1.FrameSupplier', 'SERVING');
      await once(call, 'data');
      expect(statuses).toEqual(['NOT_SERVING', 'SERVING']);
    } finally {
      call.cancel();
      client.close();
    }
  });
});
