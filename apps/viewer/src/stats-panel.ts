// The side panel and the line under the video, as plain data: the health badge and checks from
// /api/health, per-worker rows, worker pools, command targets and the video figures from /api/stats
// and the page's own counters. The page turns these into elements; Jest checks them on plain bodies.
import type { PoolMemberStats, PoolStats, PoolStreamStats } from '@framewire/proto/browser';
import { Picture, ViewState } from './stream-controller';

/** How often the side panel asks the gateway for health and statistics. */
export const HEALTH_POLL_MS = 2_000;
export const STATS_POLL_MS = 1_000;
/** A relay worker id (the gateway's own subscription at the supplier). */
export const RELAY_WORKER_PREFIX = 'gateway-viewer:';
const NO_VALUE = '–';

export interface HealthCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** A worker pool as /api/stats has it (supplier.pools), what the panel reads of it. */
export type PoolBody = Pick<PoolStats, 'poolId' | 'mode'> & {
  streams: Pick<PoolStreamStats, 'streamId' | 'published' | 'dropped' | 'coverage' | 'ageP50Us' | 'ageP99Us' | 'owner'>[];
  members: Pick<PoolMemberStats, 'workerId'>[];
};

/** What /api/stats answers that the panel reads. */
export interface StatsBody {
  workers: { workerId: string; streamId: string; resultsPerSecond: number; latency: { p50Us: number; p99Us: number } }[];
  supplier: { workers?: { workerId: string; dropsTotal: number; lastDeliveryAgeUs: number }[]; pools?: PoolBody[] };
  viewer?: { relay?: { streams?: { streamId: string; framesRelayed: number; framesSkipped: number }[] }; video?: { clients?: number } };
}

export const healthBadge = (status: number): { text: string; ok: boolean } => (status === 200 ? { text: 'healthy', ok: true } : { text: 'failing', ok: false });

const ms = (us: number) => (us / 1000).toFixed(1);

/** Rows of the workers table (worker, results/s, drops, fresh ms, e2e p50/p99 ms) for `streamId` ('' for all). */
export function workerRows(body: StatsBody, streamId: string): string[][] {
  const supplierWorkers = new Map((body.supplier.workers ?? []).map((w) => [w.workerId, w]));
  return body.workers
    .filter((w) => streamId === '' || w.streamId === streamId)
    .map((w) => {
      const s = supplierWorkers.get(w.workerId);
      return [w.workerId, w.resultsPerSecond.toFixed(1), String(s?.dropsTotal ?? NO_VALUE), s ? ms(s.lastDeliveryAgeUs) : NO_VALUE, `${ms(w.latency.p50Us)} / ${ms(w.latency.p99Us)}`];
    });
}

/** One pool in the pools table: a caption, and a row per stream. */
export interface PoolView {
  poolId: string;
  /** `analysis · sticky · 2 members: worker-1, worker-2` */
  caption: string;
  /** Per stream: stream, coverage, age p50 / p99 ms, dropped, owner. */
  rows: { streamId: string; cells: string[] }[];
}

/** The pools table: per pool its mode and members, per stream the share of frames analysed (as a
 *  percentage), the age of frames at delivery, the drops and, in a sticky pool, the owner. */
export function poolViews(body: StatsBody): PoolView[] {
  return (body.supplier.pools ?? []).map((p) => {
    const members = p.members.map((m) => m.workerId);
    return {
      poolId: p.poolId,
      // A pool exists from its first member's join to its last member's leave: never without members.
      caption: `${p.poolId} · ${p.mode} · ${members.length} member${members.length === 1 ? '' : 's'}: ${members.join(', ')}`,
      rows: p.streams.map((s) => ({
        streamId: s.streamId,
        cells: [s.streamId, s.published > 0 ? `${(s.coverage * 100).toFixed(1)} %` : NO_VALUE, `${ms(s.ageP50Us)} / ${ms(s.ageP99Us)}`, String(s.dropped), s.owner || NO_VALUE],
      })),
    };
  });
}

/** Command targets to offer: capture, supplier and every worker the supplier serves but the relay. */
export function commandTargets(body: StatsBody): string[] {
  return ['capture', 'supplier', ...new Set((body.supplier.workers ?? []).map((w) => w.workerId).filter((id) => !id.startsWith(RELAY_WORKER_PREFIX)))];
}

/** Frames shown per second over the rate window. */
export function shownFps(shownTimes: readonly number[]): number {
  return shownTimes.length > 1 ? ((shownTimes.length - 1) * 1000) / (shownTimes[shownTimes.length - 1] - shownTimes[0]) : 0;
}

/** The video section: label and value pairs. */
export function videoStats<P extends Picture>(state: ViewState<P>, body: StatsBody): [string, string][] {
  const relay = (body.viewer?.relay?.streams ?? []).find((s) => s.streamId === state.streamId);
  return [
    ['shown', `${shownFps(state.shownTimes).toFixed(1)} fps, frame ${state.shown?.sequence ?? NO_VALUE}`],
    ['age at display', Number.isFinite(state.lastFrameAgeMs) ? `${state.lastFrameAgeMs.toFixed(0)} ms` : NO_VALUE],
    ['age at relay', Number.isFinite(state.lastRelayAgeMs) ? `${state.lastRelayAgeMs.toFixed(1)} ms` : NO_VALUE],
    ['relayed', relay ? `${relay.framesRelayed} (skipped ${relay.framesSkipped})` : NO_VALUE],
    ['dropped here', `${state.relayGaps} on the socket, ${state.browserDrops + state.matcher.framesDropped} in the page`],
    ['viewers', String(body.viewer?.video?.clients ?? NO_VALUE)],
  ];
}

/** The line under the video; `exact` is the canvas's data-overlay-exact. */
export function liveLine<P extends Picture>(state: ViewState<P>, exact: string): string {
  if (state.shown === undefined) return state.mode === 'live' ? 'waiting for frames…' : 'replaying…';
  return `${shownFps(state.shownTimes).toFixed(1)} fps · frame ${state.shown.sequence} · matched: ${exact || 'none'}`;
}
