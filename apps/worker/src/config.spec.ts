// The worker's configuration: its id, and the host-name placeholder that scaled replicas rely on.
import { ConfigError } from '@framewire/service-runtime';
import { loadWorkerConfig } from './config';

describe('worker configuration', () => {
  it('keeps worker-1 as the default id and takes FW_WORKER_ID as given', () => {
    expect(loadWorkerConfig({}, 'host-a').workerId).toBe('worker-1');
    expect(loadWorkerConfig({ FW_WORKER_ID: 'motion-7' }, 'host-a').workerId).toBe('motion-7');
  });

  it('replaces {hostname} with the host name, so replicas of one container definition differ', () => {
    expect(loadWorkerConfig({ FW_WORKER_ID: 'worker-{hostname}' }, '3f2a9c1b7d4e').workerId).toBe('worker-3f2a9c1b7d4e');
    expect(loadWorkerConfig({ FW_WORKER_ID: '{hostname}' }, 'b7d4e3f2a9c1').workerId).toBe('b7d4e3f2a9c1');
  });

  it('still validates the id it makes, naming the variable', () => {
    expect(() => loadWorkerConfig({ FW_WORKER_ID: 'worker-{hostname}' }, 'x'.repeat(64))).toThrow(ConfigError);
    expect(() => loadWorkerConfig({ FW_WORKER_ID: 'worker-{hostname}' }, 'x'.repeat(64))).toThrow(/FW_WORKER_ID/);
  });

  it('bounds the result queue in bytes, 16 MiB unless FW_WORKER_RESULT_QUEUE_BYTES says otherwise', () => {
    expect(loadWorkerConfig({}, 'h').resultQueueBytes).toBe(16 * 2 ** 20);
    expect(loadWorkerConfig({ FW_WORKER_RESULT_QUEUE_BYTES: '1048576' }, 'h').resultQueueBytes).toBe(2 ** 20);
    expect(() => loadWorkerConfig({ FW_WORKER_RESULT_QUEUE_BYTES: '100' }, 'h')).toThrow(/FW_WORKER_RESULT_QUEUE_BYTES: must be >=65536/);
  });
});
