// The worker's configuration: its id, the host-name placeholder that scaled replicas rely on, and
// its pool (FW_WORKER_POOL, FW_WORKER_POOL_MODE, FW_WORKER_STREAMS), and its analyzers (built-ins,
// module paths, package names).
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

  it('takes built-in analyzers, module paths and package names in FW_WORKER_ANALYZERS, in order', () => {
    expect(loadWorkerConfig({ FW_WORKER_ANALYZERS: 'motion,tracks,./my-analyzer.js,@acme/detector,/opt/a.mjs,../b.js' }, 'h').analyzers).toEqual([
      'motion',
      'tracks',
      './my-analyzer.js',
      '@acme/detector',
      '/opt/a.mjs',
      '../b.js',
    ]);
    expect(() => loadWorkerConfig({ FW_WORKER_ANALYZERS: 'motion,,tracks' }, 'h')).toThrow(
      'FW_WORKER_ANALYZERS: must be a comma-separated list of built-in analyzers (motion, tracks, keypoints, detect, pose, person-seg), module paths (./my-analyzer.js) or package names ("" is none)',
    );
    expect(() => loadWorkerConfig({ FW_WORKER_ANALYZERS: 'motion,My Analyzer' }, 'h')).toThrow(/FW_WORKER_ANALYZERS: .*\("My Analyzer" is none\)/);
    expect(() => loadWorkerConfig({ FW_WORKER_ANALYZERS: 'motion,./a.js,motion' }, 'h')).toThrow('FW_WORKER_ANALYZERS: names "motion" twice');
  });

  it('takes the model analyzers, the models folder and the backend (wasm unless FW_MODELS_BACKEND says otherwise)', () => {
    const config = loadWorkerConfig({ FW_WORKER_ANALYZERS: 'detect,tracks,pose', FW_MODELS_DIR: '/opt/models', FW_MODELS_BACKEND: 'wasm-nosimd' }, 'h');
    expect(config).toMatchObject({ analyzers: ['detect', 'tracks', 'pose'], modelsDir: '/opt/models', modelsBackend: 'wasm-nosimd' });
    expect(loadWorkerConfig({}, 'h')).toMatchObject({ modelsDir: undefined, modelsBackend: 'wasm' });
    expect(() => loadWorkerConfig({ FW_MODELS_BACKEND: 'webgl' }, 'h')).toThrow(/FW_MODELS_BACKEND: .*"wasm".*"wasm-nosimd".*"cpu".*webgl/);
    // Empty counts as unset, as for every variable.
    expect(loadWorkerConfig({ FW_MODELS_DIR: '' }, 'h').modelsDir).toBeUndefined();
  });

  it('bounds the result queue in bytes, 16 MiB unless FW_WORKER_RESULT_QUEUE_BYTES says otherwise', () => {
    expect(loadWorkerConfig({}, 'h').resultQueueBytes).toBe(16 * 2 ** 20);
    expect(loadWorkerConfig({ FW_WORKER_RESULT_QUEUE_BYTES: '1048576' }, 'h').resultQueueBytes).toBe(2 ** 20);
    expect(() => loadWorkerConfig({ FW_WORKER_RESULT_QUEUE_BYTES: '100' }, 'h')).toThrow(/FW_WORKER_RESULT_QUEUE_BYTES: must be >=65536/);
  });

  describe('pools', () => {
    it('is a broadcast worker of FW_STREAM_ID without FW_WORKER_POOL', () => {
      expect(loadWorkerConfig({ FW_STREAM_ID: 'cam-3' }, 'h')).toMatchObject({ streamId: 'cam-3', pool: undefined });
      expect(loadWorkerConfig({ FW_WORKER_POOL: '' }, 'h').pool).toBeUndefined(); // empty counts as unset
    });

    it('joins FW_WORKER_POOL for FW_STREAM_ID, sticky when its analyzers include tracks, else shared', () => {
      expect(loadWorkerConfig({ FW_WORKER_POOL: 'analysis', FW_STREAM_ID: 'cam-2' }, 'h').pool).toEqual({ id: 'analysis', mode: 'sticky', streams: ['cam-2'] });
      expect(loadWorkerConfig({ FW_WORKER_POOL: 'analysis', FW_WORKER_ANALYZERS: 'motion' }, 'h').pool).toEqual({ id: 'analysis', mode: 'shared', streams: ['cam-1'] });
      expect(loadWorkerConfig({ FW_WORKER_POOL: 'analysis', FW_WORKER_POOL_MODE: 'shared' }, 'h').pool?.mode).toBe('shared');
      expect(loadWorkerConfig({ FW_WORKER_POOL: 'analysis', FW_WORKER_ANALYZERS: 'motion', FW_WORKER_POOL_MODE: 'sticky' }, 'h').pool?.mode).toBe('sticky');
      // pose tracks its people across frames too.
      expect(loadWorkerConfig({ FW_WORKER_POOL: 'analysis', FW_WORKER_ANALYZERS: 'pose' }, 'h').pool?.mode).toBe('sticky');
      expect(loadWorkerConfig({ FW_WORKER_POOL: 'analysis', FW_WORKER_ANALYZERS: 'detect' }, 'h').pool?.mode).toBe('shared');
    });

    it('serves the streams of FW_WORKER_STREAMS (a list, or * for all) in place of FW_STREAM_ID', () => {
      expect(loadWorkerConfig({ FW_WORKER_POOL: 'p', FW_WORKER_STREAMS: 'cam-1,cam-2', FW_STREAM_ID: 'cam-9' }, 'h').pool?.streams).toEqual(['cam-1', 'cam-2']);
      expect(loadWorkerConfig({ FW_WORKER_POOL: 'p', FW_WORKER_STREAMS: '*' }, 'h').pool?.streams).toBe('all');
    });

    it('makes a worker of several streams without a pool a pool of one, named after the worker', () => {
      expect(loadWorkerConfig({ FW_WORKER_ID: 'worker-{hostname}', FW_WORKER_STREAMS: 'cam-1,cam-2' }, 'ab12').pool).toEqual({ id: 'worker-ab12', mode: 'sticky', streams: ['cam-1', 'cam-2'] });
      expect(loadWorkerConfig({ FW_WORKER_ID: 'w7', FW_WORKER_STREAMS: '*', FW_WORKER_ANALYZERS: 'motion' }, 'h').pool).toEqual({ id: 'w7', mode: 'shared', streams: 'all' });
      // One listed stream and no pool: broadcast, as FW_STREAM_ID.
      expect(loadWorkerConfig({ FW_WORKER_STREAMS: 'cam-4' }, 'h')).toMatchObject({ streamId: 'cam-4', pool: undefined });
    });

    it('refuses bad pool settings, naming the variable', () => {
      const problem = (env: Record<string, string>) => {
        try {
          loadWorkerConfig(env, 'h');
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          return (err as ConfigError).problems.join('; ');
        }
        return 'accepted';
      };
      expect(problem({ FW_WORKER_POOL_MODE: 'sticky' })).toMatch(/^FW_WORKER_POOL_MODE: a pool's mode needs a pool: set FW_WORKER_POOL, or several streams/);
      expect(problem({ FW_WORKER_POOL: 'p', FW_WORKER_POOL_MODE: 'round-robin' })).toMatch(/^FW_WORKER_POOL_MODE: .*"shared".*"sticky".*round-robin/);
      expect(problem({ FW_WORKER_POOL: 'no spaces' })).toMatch(/^FW_WORKER_POOL: must be 1-64 of A-Z a-z 0-9 \. _ -/);
      expect(problem({ FW_WORKER_STREAMS: 'cam-1,,cam-2' })).toMatch(/^FW_WORKER_STREAMS: must be \* or a comma-separated list of stream ids.*"" is not one/);
      expect(problem({ FW_WORKER_STREAMS: 'cam-1,cam-1' })).toMatch(/^FW_WORKER_STREAMS: lists stream "cam-1" twice/);
      expect(problem({ FW_WORKER_STREAMS: Array.from({ length: 65 }, (_, i) => `c${i}`).join(',') })).toMatch(/^FW_WORKER_STREAMS: lists 65 streams; at most 64/);
      expect(problem({ FW_WORKER_MAX_STREAMS: '0' })).toMatch(/^FW_WORKER_MAX_STREAMS: must be >=1/);
    });

    it('keeps state for at most FW_WORKER_MAX_STREAMS streams (16), each until unseen for FW_WORKER_STREAM_IDLE_MS (10 s)', () => {
      expect(loadWorkerConfig({}, 'h')).toMatchObject({ maxStreams: 16, streamIdleMs: 10_000 });
      expect(loadWorkerConfig({ FW_WORKER_MAX_STREAMS: '4', FW_WORKER_STREAM_IDLE_MS: '30000' }, 'h')).toMatchObject({ maxStreams: 4, streamIdleMs: 30_000 });
    });
  });
});
