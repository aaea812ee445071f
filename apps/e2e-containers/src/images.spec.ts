// The four service images as built by `npm run images`: what they declare (user, health check,
// stop signal, ports, labels), that they hold production dependencies only, and — one container
// started with GenericContainer — that the health check really asks gRPC health and that SIGTERM
// stops the service gracefully.
import { GenericContainer, getContainerRuntimeClient, ImageName, StartedTestContainer, Wait } from 'testcontainers';
import { describeWithDocker, dockerContainer } from '@framewire/containers';
import { ensureImages } from './support/clients';

const SERVICES = { capture: 50051, supplier: 50052, worker: 50053, gateway: 50054 } as const;
const BASE_IMAGE = 'node:20-bookworm-slim';
/** What framewire adds to the Node.js base: the production dependencies (~100 MB, sharp's libvips
 *  and @napi-rs/image the largest) and dist/. Dev dependencies would add over 300 MB more. */
const MAX_ADDED_MB = 130;
/** FW_SHUTDOWN_TIMEOUT_MS's default: a graceful stop ends well within it. */
const SHUTDOWN_BOUND_MS = 10_000;
const START_TIMEOUT_MS = 60_000;

describeWithDocker('the service images (docker/*.Dockerfile)', () => {
  beforeAll(() => ensureImages(), 10 * 60_000);

  it('declare the non-root user, the gRPC health check, SIGTERM, their ports and labels', async () => {
    const client = await getContainerRuntimeClient();
    const base = await client.image.inspect(ImageName.fromString(BASE_IMAGE));
    for (const [service, port] of Object.entries(SERVICES)) {
      const image = await client.image.inspect(ImageName.fromString(`framewire/${service}:latest`));
      const c = image.Config as typeof image.Config & { StopSignal?: string };
      expect({ service, user: c.User, stop: c.StopSignal }).toEqual({ service, user: 'node', stop: 'SIGTERM' });
      expect(c.Healthcheck?.Test).toEqual(['CMD', 'node', '/app/dist/tools/health-probe/health-probe.js']);
      expect(c.Entrypoint).toEqual(['node']);
      expect(c.Cmd).toEqual(['--enable-source-maps', `dist/apps/${service}/src/main.js`]);
      expect(c.Env).toContain(`FW_GRPC_PORT=${port}`);
      expect(Object.keys(c.ExposedPorts ?? {})).toContain(`${port}/tcp`);
      expect(c.Labels).toMatchObject({
        'org.opencontainers.image.title': `framewire-${service}`,
        'org.opencontainers.image.version': expect.stringMatching(/^\d+\.\d+\.\d+/),
        'org.opencontainers.image.revision': expect.stringMatching(/^([0-9a-f]{7,}|unknown)$/),
        'io.framewire.service': service,
        'io.framewire.grpc-port': String(port),
      });
      const addedMb = Math.round((image.Size - base.Size) / 1e6);
      expect({ service, small: addedMb < MAX_ADDED_MB }).toEqual({ service, small: true });
      process.stderr.write(`measured: framewire/${service} image ${Math.round(image.Size / 1e6)} MB (${addedMb} MB over ${BASE_IMAGE})\n`);
    }
  });

  describe('a supplier container', () => {
    let supplier: StartedTestContainer;

    beforeAll(async () => {
      // The image has no shell: wait on its own HEALTHCHECK, which runs the gRPC health probe.
      supplier = await new GenericContainer('framewire/supplier:latest')
        .withEnvironment({ FW_GATEWAY_ADDRESS: '' })
        .withExposedPorts(SERVICES.supplier)
        .withWaitStrategy(Wait.forHealthCheck())
        .withStartupTimeout(START_TIMEOUT_MS)
        .start();
    }, START_TIMEOUT_MS + 10_000);

    afterAll(async () => {
      await supplier?.stop({ timeout: SHUTDOWN_BOUND_MS });
    }, 30_000);

    it('is healthy because the probe got SERVING from grpc.health.v1', async () => {
      const info = await (await dockerContainer(supplier.getId())).inspect();
      expect(info.State.Health?.Status).toBe('healthy');
      const log = info.State.Health?.Log ?? [];
      expect(log.at(-1)).toMatchObject({ ExitCode: 0, Output: expect.stringMatching(/^SERVING 127\.0\.0\.1:50052 \(\d+ ms\)/) });
    });

    it('runs as uid 1000 with production dependencies only and no test support', async () => {
      const uid = await supplier.exec(['node', '-e', 'process.stdout.write(String(process.getuid()))']);
      expect(uid.output.trim()).toBe('1000');
      const resolve = (pkg: string) => supplier.exec(['node', '-e', `require.resolve(${JSON.stringify(pkg)})`], { workingDir: '/app' });
      for (const pkg of ['@grpc/grpc-js', 'sharp', '@nestjs/core']) expect({ pkg, code: (await resolve(pkg)).exitCode }).toEqual({ pkg, code: 0 });
      for (const pkg of ['jest', 'typescript', 'nx', 'testcontainers', '@swc/core']) expect({ pkg, code: (await resolve(pkg)).exitCode }).toEqual({ pkg, code: 1 });
      const listing = await supplier.exec(['node', '-e', "process.stdout.write(require('fs').readdirSync('/app/dist/libs').join(' '))"]);
      expect(listing.output.split(' ')).not.toContain('testing');
      // The code is root's and read-only to the service.
      const write = await supplier.exec(['node', '-e', "require('fs').writeFileSync('/app/dist/x', '')"]);
      expect(write.exitCode).not.toBe(0);
    });

    it('stops gracefully on SIGTERM, within FW_SHUTDOWN_TIMEOUT_MS, exit code 0', async () => {
      const container = await dockerContainer(supplier.getId());
      const started = Date.now();
      await container.stop({ t: SHUTDOWN_BOUND_MS / 1000 + 5 });
      const ms = Date.now() - started;
      const info = await container.inspect();
      expect(info.State.ExitCode).toBe(0);
      expect(ms).toBeLessThan(SHUTDOWN_BOUND_MS);
      const logs = (await container.logs({ stdout: true, stderr: true, follow: false })).toString('utf8');
      expect(logs).toMatch(/"message":"stopping","reason":"SIGTERM"/);
      expect(logs).toMatch(/"message":"stopped"/);
      process.stderr.write(`measured: supplier docker stop (SIGTERM) to exit: ${ms} ms\n`);
    }, 30_000);
  });
});
