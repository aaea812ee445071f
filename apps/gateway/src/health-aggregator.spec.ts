// HealthAggregator: which observations make the pipeline healthy, and which check names the fault.
import type { StreamStats, SupplierStats, WorkerStats } from '@framewire/proto';
import { HealthAggregator, HealthInputs, HEALTH_CHECK_NAMES } from './health/health-aggregator';

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
    ...overrides,
  };
}

function healthy(overrides: Partial<HealthInputs> = {}): HealthInputs {
  const stats: SupplierStats = { streams: [stream()], workers: [worker()], refused: [] };
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
    const report = new HealthAggregator(THRESHOLDS).evaluate(healthy({ supplierStats: { streams: [], workers: [worker()], refused: [] } }));
    expect(failing(report)).toEqual(['frames']);
  });

  it('counts a stream with a zero rate as flowing while its sequence moved recently, and stalled after', () => {
    const aggregator = new HealthAggregator(THRESHOLDS);
    const at = (nowMs: number, lastSequence: number) =>
      aggregator.evaluate(healthy({ nowMs, supplierStats: { streams: [stream({ publishRateFps: 0, lastSequence })], workers: [worker()], refused: [] } }));
    // First sight: no evidence of movement, and the rate is 0.
    expect(failing(at(NOW_MS, 10))).toEqual(['frames']);
    expect(failing(at(NOW_MS + 500, 11))).toEqual([]);
    expect(failing(at(NOW_MS + 3_000, 11))).toEqual([]);
    expect(failing(at(NOW_MS + 3_600, 11))).toEqual(['frames']);
  });

  it('fails frames when one of two streams stalls', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(
      healthy({ supplierStats: { streams: [stream(), stream({ streamId: 'cam-2', publishRateFps: 0 })], workers: [worker()], refused: [] } }),
    );
    expect(failing(report)).toEqual(['frames']);
    expect(check(report, 'frames').detail).toContain('cam-2 stalled');
  });

  it('counts a worker attached for commands but without recent results as healthy', () => {
    expect(failing(new HealthAggregator(THRESHOLDS).evaluate(healthy({ workerResults: [] })))).toEqual([]);
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
    expect(check(report, 'workers').detail).toContain('worker-1 (no command subscription and no recent results)');
  });

  it('fails workers when the supplier reports the only worker idle', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(healthy({ supplierStats: { streams: [stream()], workers: [worker({ idle: true })], refused: [] } }));
    expect(failing(report)).toEqual(['workers']);
    expect(check(report, 'workers').detail).toContain('idle at the supplier');
  });

  it('does not count services that are not workers at the supplier', () => {
    // capture and supplier are attached, and a result came from an id the supplier does not know.
    const report = new HealthAggregator(THRESHOLDS).evaluate(
      healthy({ supplierStats: { streams: [stream()], workers: [], refused: [] }, workerResults: [{ workerId: 'ghost', lastReceivedTimeUs: NOW_MS * 1000 }] }),
    );
    expect(failing(report)).toEqual(['workers']);
    expect(check(report, 'workers').detail).toBe('no worker subscribed at the supplier');
  });

  it('is ok with one healthy worker among unhealthy ones, naming both', () => {
    const report = new HealthAggregator(THRESHOLDS).evaluate(
      healthy({ supplierStats: { streams: [stream()], workers: [worker(), worker({ workerId: 'worker-2', idle: true })], refused: [] } }),
    );
    expect(report.status).toBe('ok');
    const detail = check(report, 'workers').detail;
    expect(detail).toContain('healthy: worker-1');
    expect(detail).toContain('unhealthy: worker-2');
  });

  it('fails workers below FW_HEALTH_MIN_WORKERS healthy workers, saying how many there are', () => {
    const two = { supplierStats: { streams: [stream()], workers: [worker(), worker({ workerId: 'worker-2' })], refused: [] }, attachedServices: ['worker-1', 'worker-2'] };
    const aggregator = new HealthAggregator({ ...THRESHOLDS, minHealthyWorkers: 2 });
    expect(aggregator.evaluate(healthy(two)).status).toBe('ok');
    // worker-2 died: the supplier no longer lists it.
    const report = aggregator.evaluate(healthy());
    expect(failing(report)).toEqual(['workers']);
    expect(check(report, 'workers').detail).toBe('1 healthy, at least 2 required; healthy: worker-1 (commands attached, publishing)');
  });

  it('turns ok again when a worker comes back', () => {
    const aggregator = new HealthAggregator(THRESHOLDS);
    expect(aggregator.evaluate(healthy({ attachedServices: [], workerResults: [] })).status).toBe('failing');
    expect(aggregator.evaluate(healthy()).status).toBe('ok');
  });
});
