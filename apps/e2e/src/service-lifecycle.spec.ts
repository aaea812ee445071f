// Every service starts, serves grpc.health.v1 and reflection, and stops cleanly on a signal.
import { spawnSync } from 'node:child_process';
import {
  checkHealth,
  listReflectedServices,
  mainOf,
  ServiceProcess,
  startServiceProcess,
  stopServiceProcess,
} from '@framewire/testing';

const APPS = ['capture', 'supplier', 'worker', 'gateway'] as const;
/** What the tests allow a graceful stop of an idle service to take. */
const STOP_BOUND_MS = 5_000;

describe.each(APPS)('%s service', (app) => {
  let service: ServiceProcess | undefined;

  afterEach(async () => {
    if (service && service.child.exitCode === null && service.child.signalCode === null) {
      service.child.kill('SIGKILL');
    }
    service = undefined;
  });

  it('reports SERVING on the standard health service and lists it through reflection', async () => {
    service = await startServiceProcess(app);
    expect(await checkHealth(service.port)).toBe('SERVING');
    const services = await listReflectedServices(service.port);
    expect(services).toEqual(expect.arrayContaining(['grpc.health.v1.Health']));
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('stops with exit code 0 within the bound on %s', async (signal) => {
    service = await startServiceProcess(app);
    const { code, ms } = await stopServiceProcess(service, signal);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(STOP_BOUND_MS);
    expect(service.output.join('\n')).toContain('"stopped"');
  });

  it('logs structured JSON lines', async () => {
    service = await startServiceProcess(app);
    await stopServiceProcess(service);
    const records = service.output.map((line) => JSON.parse(line) as { level: string; timestamp: number });
    expect(records.length).toBeGreaterThan(2);
    for (const r of records) {
      expect(typeof r.level).toBe('string');
      expect(typeof r.timestamp).toBe('number');
    }
  });

  it('refuses to start on a bad value and names the variable and the accepted values', () => {
    const r = spawnSync(process.execPath, [mainOf(app)], {
      env: { PATH: process.env.PATH ?? '', FW_LOG_LEVEL: 'loud', FW_GRPC_PORT: '70000' },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(r.status).toBe(78);
    expect(r.stderr).toContain('FW_LOG_LEVEL: must be one of "debug", "info", "warn", "error" (got "loud")');
    expect(r.stderr).toContain('FW_GRPC_PORT: must be <=65535 (got "70000")');
  });
});
