// The pipeline's health from what the gateway can observe: capture and supplier health probes, the
// supplier's statistics, the command subscriptions attached to the router and the results received.
// Plain inputs in, a report out; the only state is when each stream's last sequence last moved.
import type { SupplierStats } from '@framewire/proto';
import { isViewerRelayWorker } from '@framewire/video';

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
}

const US_PER_MS = 1000;

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
   * A worker is one the supplier has a subscription for. It is healthy when the supplier reports it
   * not idle and it is either attached for commands or published results recently.
   */
  private workersCheck(inputs: HealthInputs, stats: SupplierStats | undefined): HealthCheck {
    if (stats === undefined) return { name: 'workers', ok: false, detail: 'supplier statistics unavailable' };
    const attached = new Set(inputs.attachedServices);
    const lastResultMs = new Map(inputs.workerResults.map((w) => [w.workerId, w.lastReceivedTimeUs / US_PER_MS]));
    const healthy: string[] = [];
    const unhealthy: string[] = [];
    // The gateway's own video relay subscribes like a worker but is no worker.
    const workers = stats.workers.filter((w) => !isViewerRelayWorker(w.workerId));
    for (const w of workers) {
      const last = lastResultMs.get(w.workerId);
      const publishing = last !== undefined && last > 0 && inputs.nowMs - last <= this.thresholds.workerResultsFreshMs;
      const reachable = attached.has(w.workerId);
      if (!w.idle && (publishing || reachable)) {
        healthy.push(`${w.workerId} (${[reachable ? 'commands attached' : '', publishing ? 'publishing' : ''].filter(Boolean).join(', ')})`);
      } else {
        const why = w.idle ? 'idle at the supplier' : 'no command subscription and no recent results';
        unhealthy.push(`${w.workerId} (${why})`);
      }
    }
    const required = Math.max(1, this.thresholds.minHealthyWorkers ?? 1);
    const ok = healthy.length >= required;
    // A worker that died is simply gone from the supplier's list: only the count can tell.
    const shortfall = ok || healthy.length === 0 ? '' : `${healthy.length} healthy, at least ${required} required`;
    const detail =
      workers.length === 0
        ? 'no worker subscribed at the supplier'
        : [
            shortfall,
            healthy.length > 0 ? `healthy: ${healthy.join(', ')}` : 'no healthy worker',
            unhealthy.length > 0 ? `unhealthy: ${unhealthy.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join('; ');
    return { name: 'workers', ok, detail };
  }
}
