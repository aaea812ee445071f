// The gateway's configuration: defaults, derived values, and bad values named by variable.
import { MAX_COMMAND_TIMEOUT_MS } from '@framewire/commands';
import { ConfigError } from '@framewire/service-runtime';
import { DEFAULT_CAPTURE_ADDRESSES, loadGatewayConfig } from './config';

function problemsOf(env: Record<string, string>): string {
  try {
    loadGatewayConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadGatewayConfig', () => {
  it('uses the defaults, with HTTP on the gRPC interface', () => {
    const config = loadGatewayConfig({ FW_GRPC_HOST: '127.0.0.1' });
    expect(config).toMatchObject({ httpHost: '127.0.0.1', httpPort: 8080, grpcPort: 50054, commandTimeoutMs: 5000 });
    expect(config.health.captureAddresses).toEqual([DEFAULT_CAPTURE_ADDRESSES]);
    expect(config.archive).toMatchObject({ enabled: true, directory: 'data/archive' });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads a capture address list, the HTTP host and archive settings', () => {
    const config = loadGatewayConfig({
      FW_CAPTURE_ADDRESSES: 'cam-a:50051, cam-b:50061',
      FW_HTTP_HOST: '127.0.0.1',
      FW_ARCHIVE: 'off',
      FW_ARCHIVE_RETENTION_MS: '0',
    });
    expect(config.health.captureAddresses).toEqual(['cam-a:50051', 'cam-b:50061']);
    expect(config.httpHost).toBe('127.0.0.1');
    expect(config.archive).toMatchObject({ enabled: false, retentionMs: 0 });
  });

  it('reads the memory budgets of the result queues and the archive, refusing budgets below 4 MiB', () => {
    const config = loadGatewayConfig({
      FW_RESULTS_SUBSCRIBER_QUEUE_BYTES: '8388608',
      FW_RESULTS_QUEUE_BYTES: '67108864',
      FW_RESULTS_LATEST_BYTES: '16777216',
      FW_ARCHIVE_PENDING_BYTES: '33554432',
      FW_ARCHIVE_MAX_DIRECTORIES: '10',
      FW_RESULTS_STALL_TIMEOUT_MS: '5000',
    });
    expect(config.results).toEqual({ subscriberQueueBytes: 8 * 2 ** 20, queuedBytes: 64 * 2 ** 20, latestBytes: 16 * 2 ** 20, stallTimeoutMs: 5000 });
    expect(config.archive).toMatchObject({ pendingBytes: 32 * 2 ** 20, maxDirectories: 10 });
    expect(loadGatewayConfig({}).results).toEqual({ subscriberQueueBytes: 32 * 2 ** 20, queuedBytes: 256 * 2 ** 20, latestBytes: 64 * 2 ** 20, stallTimeoutMs: 60_000 });
    expect(problemsOf({ FW_RESULTS_STALL_TIMEOUT_MS: '10' })).toContain('FW_RESULTS_STALL_TIMEOUT_MS');
    const message = problemsOf({ FW_RESULTS_QUEUE_BYTES: '1000', FW_ARCHIVE_MAX_DIRECTORIES: '0', FW_RESULTS_LATEST_BYTES: 'lots' });
    expect(message).toContain('FW_RESULTS_QUEUE_BYTES: must be >=4194304 (got "1000")');
    expect(message).toContain('FW_ARCHIVE_MAX_DIRECTORIES: must be >=1 (got "0")');
    expect(message).toContain('FW_RESULTS_LATEST_BYTES');
  });

  it('names every bad variable', () => {
    const message = problemsOf({ FW_HTTP_PORT: '70000', FW_CAPTURE_ADDRESSES: 'no-port', FW_ARCHIVE: 'maybe', FW_SUPPLIER_ADDRESS: 'x' });
    expect(message).toContain('FW_HTTP_PORT: must be <=65535 (got "70000")');
    expect(message).toContain('FW_CAPTURE_ADDRESSES: must be a comma-separated list of host:port (got "no-port")');
    expect(message).toContain('FW_ARCHIVE: must be one of "on", "off" (got "maybe")');
    expect(message).toContain('FW_SUPPLIER_ADDRESS');
  });

  it('bounds the default command timeout by the longest timeout a command may have', () => {
    expect(loadGatewayConfig({ FW_COMMAND_TIMEOUT_MS: String(MAX_COMMAND_TIMEOUT_MS) }).commandTimeoutMs).toBe(MAX_COMMAND_TIMEOUT_MS);
    expect(problemsOf({ FW_COMMAND_TIMEOUT_MS: '600000' })).toContain(`FW_COMMAND_TIMEOUT_MS: must be <=${MAX_COMMAND_TIMEOUT_MS} (got "600000")`);
  });

  it('reads the expected workers and the refusal window of /api/health, and names a bad id', () => {
    const config = loadGatewayConfig({ FW_HEALTH_EXPECTED_WORKERS: 'worker-1, worker-2,worker-1', FW_HEALTH_REFUSALS_MS: '5000' });
    expect(config.health).toMatchObject({ expectedWorkers: ['worker-1', 'worker-2'], refusalsRecentMs: 5000 });
    expect(loadGatewayConfig({}).health).toMatchObject({ expectedWorkers: [], refusalsRecentMs: 15_000 });
    expect(problemsOf({ FW_HEALTH_EXPECTED_WORKERS: 'worker-1,bad worker' })).toContain(
      'FW_HEALTH_EXPECTED_WORKERS: must be a comma-separated list of worker ids (1-64 of A-Z a-z 0-9 . _ : -) (got "worker-1,bad worker")',
    );
    expect(problemsOf({ FW_HEALTH_REFUSALS_MS: '10' })).toContain('FW_HEALTH_REFUSALS_MS');
  });

  it('reads the allowed origins as browsers send them, none by default, and names a bad entry', () => {
    expect(loadGatewayConfig({}).httpAllowedOrigins).toEqual([]);
    expect(loadGatewayConfig({ FW_HTTP_ALLOWED_ORIGINS: 'https://Ops.Example.com, http://10.0.0.5:3000,http://x.example:80' }).httpAllowedOrigins).toEqual([
      'https://ops.example.com',
      'http://10.0.0.5:3000',
      'http://x.example',
    ]);
    for (const bad of ['ops.example.com', 'https://ops.example.com/viewer', 'ftp://ops.example.com', 'https://ops.example.com/', '*']) {
      expect(problemsOf({ FW_HTTP_ALLOWED_ORIGINS: bad })).toContain(`FW_HTTP_ALLOWED_ORIGINS: ${JSON.stringify(bad)} is not an origin`);
    }
  });

  it('bounds the streams viewers may make the relay subscribe to', () => {
    expect(loadGatewayConfig({}).viewer.maxStreams).toBe(16);
    expect(loadGatewayConfig({ FW_VIEWER_MAX_STREAMS: '2' }).viewer.maxStreams).toBe(2);
    expect(problemsOf({ FW_VIEWER_MAX_STREAMS: '0' })).toContain('FW_VIEWER_MAX_STREAMS');
  });
});
