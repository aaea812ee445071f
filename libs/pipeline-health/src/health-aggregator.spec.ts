// HealthAggregator: which observations make the pipeline healthy, and which check names the fault.
import { PoolMemberStats, PoolStats, RefusedSubscriptions, StreamStats, SubscriptionRefusal, SupplierStats, WorkerStats } from '@framewire/proto';
import { HealthAggregator, HealthInputs, HEALTH_CHECK_NAMES } from './health-aggregator';

const NOW_MS = 1_700_000_000_000;
const THRESHOLDS = { workerResultsFreshMs: 3_000, framesStaleMs: 3_000 };

function stream(overrides: Partial<StreamStats> = {}): StreamStats {
  return { streamId: 'cam-1', framesPublished: 100, inboxDrops: 0, publishRateFps: 25, lastSequence: 100, subscribers: 1, publishers: 1, active: true, ...overrides };
}

function worker(overrides: Partial<WorkerStats> = {}): WorkerStats {
  return {
    workerId: 'worker-1',
    streamId: 'cam-1',
    lastSequence: 99,
    lastDeliveryTimeUs: NOW_MS * 1000,
    framesDelivered: 99,
    dropsTotal: 0,
    dropsConsecutive: 0,
    idle: false,
    lastDeliveryAgeUs: 2000,
    sharedMemory: false,
    poolId: '',
    ...overrides,
  };
}

/** A pool of `members` serving cam-1 (their stream ids '' as for members of several streams). */
function pool(poolId: string, mode: 'shared' | 'sticky', members: Partial<PoolMemberStats>[]): PoolStats {
  const stats = members.map((m) => ({ workerId: 'member', allStreams: true, streamIds: [], creditsOutstanding: 1, framesTaken: 10, ownedStreams: 0, ...m }));
  const owner = mode === 'sticky' ? (stats.find((m) => m.ownedStreams > 0)?.workerId ?? '') : '';
  return {
    poolId,
    mode,
    ownershipChanges: 0,
    members: stats,
    streams: [{ streamId: 'cam-1', published: 100, taken: 90, dropped: 10, coverage: 0.9, ageP50Us: 2000, ageP99Us: 5000, members: stats.length, owner }],
  };
}

/** Where pool members' WorkerStats differ from a broadcast worker's: a pool, and no single stream. */
const poolWorker = (workerId: string, poolId: string, overrides: Partial<WorkerStats> = {}) => worker({ workerId, poolId, streamId: '', ...overrides });

function healthy(overrides: Partial<HealthInputs> = {}): HealthInputs {
  const stats: SupplierStats = { streams: [stream()], workers: [worker()], refused: [], pools: [] };
  return {
    nowMs: NOW_MS,
    gatewayServing: true,
    captures: [{ address: '127.0.0.1:50051', status: 'SERVING', ok: true }],
    supplier: { address: '127.0.0.1:50052', status: 'SERVING', ok: true },
    supplierStats: stats,
    attachedServices: ['capture', 'supplier', 'worker-1'],
    workerResults: [{ workerId: 'worker-1', lastReceivedTimeUs: (NOW_MS - 100) * 1000 }],
    ...overrides,
  };
}

function refusal(overrides: Partial<RefusedSubscriptions> = {}): RefusedSubscriptions {
  return {
    workerId: 'worker-1',
    reason: SubscriptionRefusal.SUBSCRIPTION_REFUSAL_ID_IN_USE,
    count: 3,
    lastRefusedTimeUs: (NOW_MS - 1_200) * 1000,
    streamId: 'cam-1',
    caller: '127.0.0.1',
    message: 'worker_id "worker-1" is held by another live instance',
    ...overrides,
  };
}

/** Results of `ids`, the last received `agoMs` before NOW_MS. */
function resultsOf(ids: string[], agoMs = 100) {
  return ids.map((workerId) => ({ workerId, lastReceivedTimeUs: (NOW_MS - agoMs) * 1000 }));
}

function check(report: ReturnType<HealthAggregator['evaluate']>, name: string) {
  const found = report.checks.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no check ${name}`);
  return found;
}

function failing(report: ReturnType<HealthAggregator['evaluate']>): string[] {
  return report.checks.filter((c) => !c.ok).map((c) => c.name);
}

describe('HealthAggregator', () => {
  it('is ok when every part is healthy, and lists every check', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(healthy());
    expect(report.status).toBe('ok');
    expect(report.checks.map((c) => c.name)).toEqual([...HEALTH_CHECK_NAMES]);
    expect(report.checks.every((c) => c.ok && c.detail.length > 0)).toBe(true);
  });

  it('fails every dependent check when nothing runs', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(
      healthy({
        captures: [{ address: '127.0.0.1:50051', status: 'no answer within the deadline', ok: false }],
        supplier: { address: '127.0.0.1:50052', status: 'No connection established', ok: false },
        supplierStats: { error: 'No connection established' },
        attachedServices: [],
        workerResults: [],
      }),
    );
    expect(report.status).toBe('failing');
    expect(failing(report)).toEqual(['capture', 'supplier', 'frames', 'workers']);
    expect(check(report, 'capture').detail).toContain('127.0.0.1:50051 no answer within the deadline');
  });

  it('fails the gateway check when its gRPC server is not serving', () => {
    expect(failing(new HealthAggregator(THRESHOLDS).evaluate(healthy({ gatewayServing: false })))).toEqual(['gateway']);
  });

  it('fails capture when any of several capture addresses is not serving', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(
      healthy({
        captures: [
          { address: 'a:1', status: 'SERVING', ok: true },
          { address: 'b:2', status: 'NOT_SERVING', ok: false },
        ],
      }),
    );
    expect(failing(report)).toEqual(['capture']);
    expect(check(report, 'capture').detail).toBe('a:1 SERVING; b:2 NOT_SERVING');
  });

  it('fails frames when the supplier has no stream', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(healthy({ supplierStats: { streams: [], workers: [worker()], refused: [], pools: [] } }));
    expect(failing(report)).toEqual(['frames']);
  });

  it('counts a stream with a zero rate as flowing while its sequence moved recently, and stalled after', () => {
    const aggregator = new HealthAggregator(THRESHOLDS);
    const at = (nowMs: number, lastSequence: number) =>
      aggregator.evaluate(
        healthy({
          nowMs,
          supplierStats: { streams: [stream({ publishRateFps: 0, lastSequence })], workers: [worker()], refused: [], pools: [] },
          workerResults: [{ workerId: 'worker-1', lastReceivedTimeUs: (nowMs - 100) * 1000 }],
        }),
      );
    // First sight: no evidence of movement, and the rate is 0.
    expect(failing(at(NOW_MS, 10))).toEqual(['frames']);
    expect(failing(at(NOW_MS + 500, 11))).toEqual([]);
    expect(failing(at(NOW_MS + 3_000, 11))).toEqual([]);
    expect(failing(at(NOW_MS + 3_600, 11))).toEqual(['frames']);
  });

  it('fails frames when one of two streams stalls', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(
      healthy({ supplierStats: { streams: [stream(), stream({ streamId: 'cam-2', publishRateFps: 0 })], workers: [worker()], refused: [], pools: [] } }),
    );
    expect(failing(report)).toEqual(['frames']);
    expect(check(report, 'frames').detail).toContain('cam-2 stalled');
  });

  it('fails workers when a worker that published takes frames but publishes nothing, commands attached or not (its id taken)', () => {
    // A stranger holds worker-1's subscription and takes its frames; the real worker-1 is still
    // attached for commands but produces nothing.
    const report = new HealthAggregator(THRESHOLDS).evaluate(healthy({ workerResults: resultsOf(['worker-1'], 3_500) }));
    expect(failing(report)).toEqual(['workers']);
    expect(check(report, 'workers').detail).toBe('no healthy worker; unhealthy: worker-1 (takes frames but published no result in the last 3.0 s)');
  });

  it('fails workers when one of two workers stops producing, although the other is healthy', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(
      healthy({
        supplierStats: { streams: [stream()], workers: [worker(), worker({ workerId: 'worker-2' })], refused: [], pools: [] },
        workerResults: [...resultsOf(['worker-1']), ...resultsOf(['worker-2'], 60_000)],
      }),
    );
    expect(failing(report)).toEqual(['workers']);
    expect(check(report, 'workers').detail).toBe(
      'healthy: worker-1 (commands attached, publishing); unhealthy: worker-2 (takes frames but published no result in the last 3.0 s)',
    );
  });

  it('lists a subscriber that never published (a frame watcher) as a consumer, failing nothing', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(
      healthy({ supplierStats: { streams: [stream()], workers: [worker(), worker({ workerId: 'fw-watch-7' })], refused: [], pools: [] } }),
    );
    expect(report.status).toBe('ok');
    expect(check(report, 'workers').detail).toBe('healthy: worker-1 (commands attached, publishing); consumers: fw-watch-7 (subscribed, never published a result)');
  });

  it('counts a worker publishing results but without a command subscription as healthy', () => {
    expect(failing(new HealthAggregator(THRESHOLDS).evaluate(healthy({ attachedServices: ['capture'] })))).toEqual([]);
  });

  it('fails workers when the last worker is gone: detached and its results stale', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(
      healthy({
        attachedServices: ['capture', 'supplier'],
        workerResults: [{ workerId: 'worker-1', lastReceivedTimeUs: (NOW_MS - 3_500) * 1000 }],
      }),
    );
    expect(failing(report)).toEqual(['workers']);
    expect(check(report, 'workers').detail).toContain('worker-1 (takes frames but published no result in the last 3.0 s)');
  });

  it('fails workers when the supplier reports the only worker idle', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(healthy({ supplierStats: { streams: [stream()], workers: [worker({ idle: true })], refused: [], pools: [] } }));
    expect(failing(report)).toEqual(['workers']);
    expect(check(report, 'workers').detail).toContain('idle at the supplier');
  });

  it('does not count services that are not workers at the supplier', () => {
    // capture and supplier are attached, and a result came from an id the supplier does not know.
    const report = new HealthAggregator(THRESHOLDS).evaluate(
      healthy({ supplierStats: { streams: [stream()], workers: [], refused: [], pools: [] }, workerResults: [{ workerId: 'ghost', lastReceivedTimeUs: NOW_MS * 1000 }] }),
    );
    expect(failing(report)).toEqual(['workers']);
    expect(check(report, 'workers').detail).toBe('no worker subscribed at the supplier');
  });

  it('fails workers when a worker that published goes idle, naming both', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(
      healthy({
        supplierStats: { streams: [stream()], workers: [worker(), worker({ workerId: 'worker-2', idle: true })], refused: [], pools: [] },
        workerResults: resultsOf(['worker-1', 'worker-2']),
      }),
    );
    expect(failing(report)).toEqual(['workers']);
    const detail = check(report, 'workers').detail;
    expect(detail).toContain('healthy: worker-1');
    expect(detail).toContain('unhealthy: worker-2 (idle at the supplier)');
  });

  it('fails workers below FW_HEALTH_MIN_WORKERS healthy workers, saying how many there are', () => {
    const two = {
      supplierStats: { streams: [stream()], workers: [worker(), worker({ workerId: 'worker-2' })], refused: [], pools: [] },
      attachedServices: ['worker-1', 'worker-2'],
      workerResults: resultsOf(['worker-1', 'worker-2']),
    };
    const aggregator = new HealthAggregator({ ...THRESHOLDS, minHealthyWorkers: 2 });
    expect(aggregator.evaluate(healthy(two)).status).toBe('ok');
    // worker-2 died: the supplier no longer lists it.
    const report = aggregator.evaluate(healthy({ workerResults: resultsOf(['worker-1']) }));
    expect(failing(report)).toEqual(['workers']);
    expect(check(report, 'workers').detail).toBe('1 healthy, at least 2 required; healthy: worker-1 (commands attached, publishing)');
  });

  it('fails workers naming an expected worker that is not subscribed, or subscribed without results', () => {
    const aggregator = new HealthAggregator({ ...THRESHOLDS, expectedWorkers: ['worker-1', 'worker-2', 'worker-3'] });
    const report = aggregator.evaluate(
      healthy({ supplierStats: { streams: [stream()], workers: [worker(), worker({ workerId: 'worker-3' })], refused: [], pools: [] } }),
    );
    expect(failing(report)).toEqual(['workers']);
    expect(check(report, 'workers').detail).toBe(
      'healthy: worker-1 (commands attached, publishing); unhealthy: worker-3 (takes frames but published no result in the last 3.0 s), ' +
        'worker-2 (expected, not subscribed at the supplier)',
    );
    const all = aggregator.evaluate(
      healthy({
        supplierStats: { streams: [stream()], workers: ['worker-1', 'worker-2', 'worker-3'].map((workerId) => worker({ workerId })), refused: [], pools: [] },
        workerResults: resultsOf(['worker-1', 'worker-2', 'worker-3']),
      }),
    );
    expect(all.status).toBe('ok');
  });

  it('fails workers on a recent refusal of a known worker, naming it, the reason, how often, when and from where', () => {
    // worker-1 itself is healthy: a second instance was refused its id.
    const report = new HealthAggregator(THRESHOLDS).evaluate(healthy({ supplierStats: { streams: [stream()], workers: [worker()], refused: [refusal()], pools: [] } }));
    expect(failing(report)).toEqual(['workers']);
    expect(check(report, 'workers').detail).toBe(
      'healthy: worker-1 (commands attached, publishing); refused: worker-1 (id in use by another live instance: 3 refused, the last 1.2 s ago from 127.0.0.1)',
    );
  });

  it('fails workers on a recent refusal of a worker that published before and is gone (kept out by a limit)', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(
      healthy({
        supplierStats: { streams: [stream()], workers: [worker()], refused: [refusal({ workerId: 'worker-3', reason: SubscriptionRefusal.SUBSCRIPTION_REFUSAL_WORKER_LIMIT, count: 1 })], pools: [] },
        workerResults: [...resultsOf(['worker-1']), ...resultsOf(['worker-3'], 20_000)],
      }),
    );
    expect(failing(report)).toEqual(['workers']);
    expect(check(report, 'workers').detail).toContain('refused: worker-3 (worker limit: 1 refused, the last 1.2 s ago from 127.0.0.1)');
  });

  it('ignores refusals of unknown ids, of the video relay, and older than the window', () => {
    const aggregator = new HealthAggregator({ ...THRESHOLDS, refusalsRecentMs: 5_000 });
    const report = aggregator.evaluate(
      healthy({
        supplierStats: {
          streams: [stream()],
          workers: [worker()],
          refused: [
            refusal({ workerId: 'random-4711', reason: SubscriptionRefusal.SUBSCRIPTION_REFUSAL_CALLER_LIMIT }),
            refusal({ workerId: 'gateway-viewer:cam-1', reason: SubscriptionRefusal.SUBSCRIPTION_REFUSAL_STREAM_LIMIT }),
            refusal({ lastRefusedTimeUs: (NOW_MS - 5_001) * 1000 }),
          ],
          pools: [],
        },
      }),
    );
    expect(report.status).toBe('ok');
    expect(check(report, 'workers').detail).toBe('healthy: worker-1 (commands attached, publishing)');
  });

  describe('pool members', () => {
    const tenSecondsAgoUs = (NOW_MS - 10_000) * 1000;

    it('counts a member that waits with credits while the other members take the frames as healthy standby, toward FW_HEALTH_MIN_WORKERS and as expected', () => {
      // m2 published before; the pool's frames have gone to m1 for 10 s (m2 is idle at the supplier by now).
      const report = new HealthAggregator({ ...THRESHOLDS, minHealthyWorkers: 2, expectedWorkers: ['m1', 'm2'] }).evaluate(
        healthy({
          supplierStats: {
            streams: [stream()],
            workers: [poolWorker('m1', 'p'), poolWorker('m2', 'p', { lastDeliveryTimeUs: tenSecondsAgoUs, idle: true })],
            refused: [],
            pools: [pool('p', 'shared', [{ workerId: 'm1', creditsOutstanding: 0 }, { workerId: 'm2', creditsOutstanding: 1 }])],
          },
          attachedServices: ['m1', 'm2'],
          workerResults: [...resultsOf(['m1']), ...resultsOf(['m2'], 10_000)],
        }),
      );
      expect(report.status).toBe('ok');
      expect(check(report, 'workers').detail).toBe('healthy: m1 (commands attached, publishing), m2 (standby in pool "p": 1 credit waiting, no frame for it in 3.0 s)');
    });

    it('counts a member of a sticky pool that owns no stream and never published as standby', () => {
      const report = new HealthAggregator({ ...THRESHOLDS, minHealthyWorkers: 2 }).evaluate(
        healthy({
          supplierStats: {
            streams: [stream()],
            workers: [poolWorker('s1', 'st'), poolWorker('s2', 'st', { lastDeliveryTimeUs: 0, framesDelivered: 0 })],
            refused: [],
            pools: [pool('st', 'sticky', [{ workerId: 's1', ownedStreams: 1, creditsOutstanding: 0 }, { workerId: 's2', ownedStreams: 0, creditsOutstanding: 2 }])],
          },
          workerResults: resultsOf(['s1']),
        }),
      );
      expect(report.status).toBe('ok');
      expect(check(report, 'workers').detail).toContain('s2 (standby in pool "st": owns no stream, 2 credits waiting, no frame for it in 3.0 s)');
    });

    it('still fails a member that holds a frame without finishing it (no credit), or takes frames and publishes nothing', () => {
      const report = new HealthAggregator(THRESHOLDS).evaluate(
        healthy({
          supplierStats: {
            streams: [stream()],
            workers: [poolWorker('m1', 'p'), poolWorker('stuck', 'p', { lastDeliveryTimeUs: tenSecondsAgoUs, idle: true }), poolWorker('mute', 'p')],
            refused: [],
            pools: [pool('p', 'shared', [{ workerId: 'm1' }, { workerId: 'stuck', creditsOutstanding: 0 }, { workerId: 'mute', creditsOutstanding: 1 }])],
          },
          workerResults: [...resultsOf(['m1']), ...resultsOf(['stuck', 'mute'], 10_000)],
        }),
      );
      expect(failing(report)).toEqual(['workers']);
      expect(check(report, 'workers').detail).toContain('unhealthy: stuck (idle at the supplier), mute (takes frames but published no result in the last 3.0 s)');
    });
  });

  it('turns ok again when a worker comes back', () => {
    const aggregator = new HealthAggregator(THRESHOLDS);
    expect(aggregator.evaluate(healthy({ attachedServices: [], workerResults: [] })).status).toBe('failing');
    expect(aggregator.evaluate(healthy()).status).toBe('ok');
  });
});
