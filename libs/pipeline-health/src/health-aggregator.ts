// The pipeline's health from what the gateway can observe: capture and supplier health probes, the
// supplier's statistics (subscriptions and refused ones), the command subscriptions attached to the
// router and the results received. Plain inputs in, a report out; the only state is when each
// stream's last sequence last moved.
import { PoolMemberStats, RefusedSubscriptions, SubscriptionRefusal, SupplierStats, WorkerStats } from '@framewire/proto';
import { isViewerRelayWorker } from '@framewire/viewer-video';

export const HEALTH_CHECK_NAMES = ['gateway', 'capture', 'supplier', 'frames', 'workers'] as const;
export type HealthCheckName = (typeof HEALTH_CHECK_NAMES)[number];

export interface HealthCheck {
  name: HealthCheckName;
  ok: boolean;
  detail: string;
}

export interface HealthReport {
  status: 'ok' | 'failing';
  checks: HealthCheck[];
}

/** The outcome of one grpc.health.v1 Check. */
export interface ProbeOutcome {
  address: string;
  /** SERVING, NOT_SERVING, UNKNOWN, or the error of the call (unreachable, deadline). */
  status: string;
  ok: boolean;
}

/** What the results hub knows about one worker's results. */
export interface WorkerResultActivity {
  workerId: string;
  /** Gateway clock, microseconds since the Unix epoch; 0 when it never published. */
  lastReceivedTimeUs: number;
}

export interface HealthInputs {
  /** Wall clock, milliseconds since the Unix epoch. */
  nowMs: number;
  /** Whether the gateway's own gRPC server is serving. */
  gatewayServing: boolean;
  captures: readonly ProbeOutcome[];
  supplier: ProbeOutcome;
  /** The supplier's GetStats, or the reason it could not be had. */
  supplierStats: SupplierStats | { error: string };
  /** Service ids with a command subscription at the router (workers subscribe with their worker id). */
  attachedServices: readonly string[];
  workerResults: readonly WorkerResultActivity[];
}

export interface HealthThresholds {
  /** A worker's results count as current for this long. */
  workerResultsFreshMs: number;
  /** A stream with a zero publish rate still counts as flowing this long after its sequence moved. */
  framesStaleMs: number;
  /** Fewer healthy workers than this fail the workers check (default 1: any one will do). */
  minHealthyWorkers?: number;
  /** Worker ids that must each be healthy (FW_HEALTH_EXPECTED_WORKERS). */
  expectedWorkers?: readonly string[];
  /** A refused subscription of a known worker fails the workers check for this long (default
   *  DEFAULT_REFUSALS_RECENT_MS). */
  refusalsRecentMs?: number;
}

/** Longer than a worker's longest wait between two subscription attempts (5 s), so a worker that
 *  keeps being refused keeps the check failing. */
export const DEFAULT_REFUSALS_RECENT_MS = 15_000;
const US_PER_MS = 1000;
const MS_PER_S = 1000;

/** How a refusal reads in a check's detail. */
const REFUSAL_NAMES: Readonly<Record<SubscriptionRefusal, string>> = {
  [SubscriptionRefusal.SUBSCRIPTION_REFUSAL_UNSPECIFIED]: 'refused',
  [SubscriptionRefusal.SUBSCRIPTION_REFUSAL_ID_IN_USE]: 'id in use by another live instance',
  [SubscriptionRefusal.SUBSCRIPTION_REFUSAL_WORKER_LIMIT]: 'worker limit',
  [SubscriptionRefusal.SUBSCRIPTION_REFUSAL_CALLER_LIMIT]: 'per-caller limit',
  [SubscriptionRefusal.SUBSCRIPTION_REFUSAL_STREAM_LIMIT]: 'stream limit',
};

function seconds(ms: number): string {
  return `${(ms / MS_PER_S).toFixed(1)} s`;
}

function poolIsSticky(stats: SupplierStats, poolId: string): boolean {
  return stats.pools.some((p) => p.poolId === poolId && p.mode === 'sticky');
}

function probesCheck(name: 'capture' | 'supplier', probes: readonly ProbeOutcome[]): HealthCheck {
  if (probes.length === 0) return { name, ok: false, detail: 'no address configured' };
  return {
    name,
    ok: probes.every((p) => p.ok),
    detail: probes.map((p) => `${p.address} ${p.status}`).join('; '),
  };
}

/** Turns observations into /api/health's report. Call evaluate() with fresh inputs each time. */
export class HealthAggregator {
  /** Per stream: the last sequence seen and when it last changed (ms). */
  private readonly sequenceSeen = new Map<string, { sequence: number; changedAtMs: number }>();

  constructor(private readonly thresholds: HealthThresholds) {}

  evaluate(inputs: HealthInputs): HealthReport {
    const stats = 'error' in inputs.supplierStats ? undefined : inputs.supplierStats;
    const checks: HealthCheck[] = [
      {
        name: 'gateway',
        ok: inputs.gatewayServing,
        detail: inputs.gatewayServing ? 'gRPC server SERVING' : 'gRPC server NOT_SERVING',
      },
      probesCheck('capture', inputs.captures),
      probesCheck('supplier', [inputs.supplier]),
      this.framesCheck(inputs.nowMs, inputs.supplierStats),
      this.workersCheck(inputs, stats),
    ];
    return { status: checks.every((c) => c.ok) ? 'ok' : 'failing', checks };
  }

  private framesCheck(nowMs: number, supplierStats: HealthInputs['supplierStats']): HealthCheck {
    if ('error' in supplierStats) return { name: 'frames', ok: false, detail: `supplier statistics unavailable: ${supplierStats.error}` };
    const streams = supplierStats.streams;
    if (streams.length === 0) return { name: 'frames', ok: false, detail: 'the supplier has no stream' };
    const parts: string[] = [];
    let ok = true;
    for (const s of streams) {
      let seen = this.sequenceSeen.get(s.streamId);
      if (seen === undefined || seen.sequence !== s.lastSequence) {
        // The first sight of a stream is not evidence of movement: only its rate counts then.
        seen = { sequence: s.lastSequence, changedAtMs: seen === undefined ? -Infinity : nowMs };
        this.sequenceSeen.set(s.streamId, seen);
      }
      const changedAtMs = seen.changedAtMs;
      const flowing = s.publishRateFps > 0 || nowMs - changedAtMs <= this.thresholds.framesStaleMs;
      ok &&= flowing;
      parts.push(`${s.streamId} ${flowing ? 'flowing' : 'stalled'} (${s.publishRateFps.toFixed(1)} fps, last sequence ${s.lastSequence})`);
    }
    for (const id of [...this.sequenceSeen.keys()]) {
      if (!streams.some((s) => s.streamId === id)) this.sequenceSeen.delete(id);
    }
    return { name: 'frames', ok, detail: parts.join('; ') };
  }

  /**
   * The workers: ids the supplier has a subscription for (the gateway's own video relay aside) and
   * the expected ones. A worker is healthy when it is subscribed, not idle, and published a result
   * within workerResultsFreshMs. A pool member on standby is healthy too: it took no frame within
   * workerResultsFreshMs while it holds credits at the supplier, so it waits for frames that the
   * pool's other members took (or, sticky, it owns no stream); it is ready, not stuck (a stuck one
   * holds a frame and no credit). The check fails when fewer than minHealthyWorkers are healthy, when
   * an expected worker is not healthy, when a worker that published results before is subscribed
   * but no longer produces them (idle, or takes frames and publishes nothing), and when a known
   * worker (expected, subscribed, or one that published) had a subscription refused within
   * refusalsRecentMs, whatever the reason (its id held by another instance, a limit). A subscriber
   * that never published (a frame watcher) is listed, and fails nothing.
   */
  private workersCheck(inputs: HealthInputs, stats: SupplierStats | undefined): HealthCheck {
    if (stats === undefined) return { name: 'workers', ok: false, detail: 'supplier statistics unavailable' };
    const { nowMs } = inputs;
    const freshMs = this.thresholds.workerResultsFreshMs;
    const expected = this.thresholds.expectedWorkers ?? [];
    const attached = new Set(inputs.attachedServices);
    const lastResultMs = new Map(inputs.workerResults.map((w) => [w.workerId, w.lastReceivedTimeUs / US_PER_MS]));
    const published = (id: string): boolean => (lastResultMs.get(id) ?? 0) > 0;
    // The gateway's own video relay subscribes like a worker but is no worker.
    const subscribed = new Map<string, WorkerStats>(stats.workers.filter((w) => !isViewerRelayWorker(w.workerId)).map((w) => [w.workerId, w]));
    const poolMembers = new Map<string, PoolMemberStats>(stats.pools.flatMap((p) => p.members.map((m) => [m.workerId, m] as const)));
    const ids = [...new Set([...subscribed.keys(), ...expected])];

    const healthy: string[] = [];
    const unhealthy: string[] = [];
    const consumers: string[] = [];
    let failed = false;
    for (const id of ids) {
      const w = subscribed.get(id);
      const isExpected = expected.includes(id);
      const last = lastResultMs.get(id) ?? 0;
      const member = w === undefined ? undefined : poolMembers.get(id);
      if (w !== undefined && !w.idle && last > 0 && nowMs - last <= freshMs) {
        healthy.push(`${id} (${[attached.has(id) ? 'commands attached' : '', 'publishing'].filter(Boolean).join(', ')})`);
      } else if (w !== undefined && member !== undefined && member.creditsOutstanding > 0 && nowMs - w.lastDeliveryTimeUs / US_PER_MS > freshMs) {
        const owns = member.ownedStreams === 0 && poolIsSticky(stats, w.poolId) ? 'owns no stream, ' : '';
        const credits = `${member.creditsOutstanding} credit${member.creditsOutstanding === 1 ? '' : 's'}`;
        healthy.push(`${id} (standby in pool ${JSON.stringify(w.poolId)}: ${owns}${credits} waiting, no frame for it in ${seconds(freshMs)})`);
      } else if (!isExpected && !published(id)) {
        consumers.push(`${id} (subscribed, never published a result)`);
      } else {
        // Expected, or it published before: it stopped producing.
        const problem = w === undefined ? 'expected, not subscribed at the supplier' : w.idle ? 'idle at the supplier' : `takes frames but published no result in the last ${seconds(freshMs)}`;
        unhealthy.push(`${id} (${problem})`);
        failed = true;
      }
    }

    const refused = this.recentRefusals(stats.refused, nowMs, (id) => expected.includes(id) || subscribed.has(id) || published(id));
    if (refused.length > 0) failed = true;

    const required = Math.max(1, this.thresholds.minHealthyWorkers ?? 1);
    if (healthy.length < required) failed = true;
    // A worker that died is simply gone from the supplier's list: only the count (or an expected id) can tell.
    const shortfall = healthy.length >= required || healthy.length === 0 ? '' : `${healthy.length} healthy, at least ${required} required`;
    const detail =
      ids.length === 0 && refused.length === 0
        ? 'no worker subscribed at the supplier'
        : [
            shortfall,
            healthy.length > 0 ? `healthy: ${healthy.join(', ')}` : 'no healthy worker',
            unhealthy.length > 0 ? `unhealthy: ${unhealthy.join(', ')}` : '',
            refused.length > 0 ? `refused: ${refused.join(', ')}` : '',
            consumers.length > 0 ? `consumers: ${consumers.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join('; ');
    return { name: 'workers', ok: !failed, detail };
  }

  /** The refusals of known workers within refusalsRecentMs, one line per worker id and reason. */
  private recentRefusals(refusals: readonly RefusedSubscriptions[], nowMs: number, known: (workerId: string) => boolean): string[] {
    const recentMs = this.thresholds.refusalsRecentMs ?? DEFAULT_REFUSALS_RECENT_MS;
    const lines: string[] = [];
    for (const r of refusals) {
      const agoMs = nowMs - r.lastRefusedTimeUs / US_PER_MS;
      if (agoMs > recentMs || isViewerRelayWorker(r.workerId) || !known(r.workerId)) continue;
      const from = r.caller === '' ? '' : ` from ${r.caller}`;
      lines.push(`${r.workerId} (${REFUSAL_NAMES[r.reason] ?? 'refused'}: ${r.count} refused, the last ${seconds(Math.max(0, agoMs))} ago${from})`);
    }
    return lines;
  }
}
