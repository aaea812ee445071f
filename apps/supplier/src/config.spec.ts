// The supplier's configuration: the worker-slot and worker-id settings, and bad values named by variable.
import { ConfigError } from '@framewire/service-runtime';
import { loadSupplierConfig } from './config';

function problemsOf(env: Record<string, string>): string {
  try {
    loadSupplierConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadSupplierConfig', () => {
  it('reserves nothing by default, allows 16 workers per caller and takes an id over after 10 s of silence', () => {
    expect(loadSupplierConfig({})).toMatchObject({ maxWorkers: 64, reservedWorkers: [], reservedSlots: 0, maxWorkersPerCaller: 16, holderSilenceMs: 10_000 });
  });

  it('reads reserved worker ids and prefixes, one slot per entry unless FW_SUPPLIER_RESERVED_SLOTS says', () => {
    const config = loadSupplierConfig({ FW_SUPPLIER_RESERVED_WORKERS: 'worker-1, worker-2,replica-*', FW_SUPPLIER_MAX_WORKERS_PER_CALLER: '4', FW_SUPPLIER_HOLDER_SILENCE_MS: '2000' });
    expect(config).toMatchObject({ reservedWorkers: ['worker-1', 'worker-2', 'replica-*'], reservedSlots: 3, maxWorkersPerCaller: 4, holderSilenceMs: 2000 });
    expect(loadSupplierConfig({ FW_SUPPLIER_RESERVED_WORKERS: 'worker-*', FW_SUPPLIER_RESERVED_SLOTS: '8' }).reservedSlots).toBe(8);
  });

  it('names a bad reserved entry, and a reserve that leaves no slot to other workers', () => {
    for (const bad of ['*', 'bad worker', 'a*b', 'x'.repeat(65)]) {
      expect(problemsOf({ FW_SUPPLIER_RESERVED_WORKERS: bad })).toContain('FW_SUPPLIER_RESERVED_WORKERS: must be a comma-separated list of worker ids');
    }
    expect(problemsOf({ FW_SUPPLIER_MAX_WORKERS: '2', FW_SUPPLIER_RESERVED_WORKERS: 'a,b' })).toContain(
      'FW_SUPPLIER_RESERVED_WORKERS: reserves 2 slots; FW_SUPPLIER_MAX_WORKERS (2) must be larger, so that other workers keep at least one (got "a,b")',
    );
    expect(problemsOf({ FW_SUPPLIER_MAX_WORKERS: '8', FW_SUPPLIER_RESERVED_SLOTS: '8' })).toContain('FW_SUPPLIER_RESERVED_SLOTS: reserves 8 slots');
    expect(problemsOf({ FW_SUPPLIER_MAX_WORKERS_PER_CALLER: '0' })).toContain('FW_SUPPLIER_MAX_WORKERS_PER_CALLER');
    expect(problemsOf({ FW_SUPPLIER_HOLDER_SILENCE_MS: '5' })).toContain('FW_SUPPLIER_HOLDER_SILENCE_MS');
  });
});
