// Prometheus series of the worker pools (GetStats' SupplierStats.pools), read at scrape time: per
// pool and stream (frames, coverage, age, members, owner), per pool (mode, ownership changes) and per
// pool and member. Every scrape starts from nothing, so the series of a pool, stream or member that
// went away disappear; pools, streams and members are bounded by the supplier's limits, so is the
// number of series. An autoscaler reads these: docs/supplier.md, "Pool metrics".
import { Counter, Gauge, Registry } from 'prom-client';
import type { PoolMemberStats, PoolStats, PoolStreamStats } from '@framewire/proto';

const PREFIX = 'framewire_pool_';
const US_PER_S = 1_000_000;

type Labels = Record<string, string>;
type Sample = readonly [Labels, number];

/** One metric: its name (after the prefix), kind, labels and its samples from the pools. */
interface PoolSeries {
  name: string;
  help: string;
  kind: 'counter' | 'gauge';
  labelNames: readonly string[];
  samples(pools: readonly PoolStats[]): Iterable<Sample>;
}

/** Makes series with one sample per pool and entry of `entries` (its streams or its members), the
 *  entry named by the label `label`. */
function perEntry<T>(label: 'stream' | 'member', entries: (p: PoolStats) => readonly T[], idOf: (entry: T) => string) {
  return (name: string, kind: PoolSeries['kind'], help: string, value: (entry: T) => number): PoolSeries => ({
    name,
    kind,
    help,
    labelNames: ['pool', label],
    *samples(pools) {
      for (const p of pools) for (const entry of entries(p)) yield [{ pool: p.poolId, [label]: idOf(entry) }, value(entry)];
    },
  });
}

const perStream = perEntry<PoolStreamStats>('stream', (p) => p.streams, (s) => s.streamId);
const perMember = perEntry<PoolMemberStats>('member', (p) => p.members, (m) => m.workerId);

/** The quantiles of the age at delivery that PoolStreamStats carries. */
const AGE_QUANTILES: readonly (readonly [string, (s: PoolStreamStats) => number])[] = [
  ['0.5', (s) => s.ageP50Us],
  ['0.99', (s) => s.ageP99Us],
];

const POOL_SERIES: readonly PoolSeries[] = [
  {
    name: 'info',
    kind: 'gauge',
    help: 'One per pool (value 1), with its mode: shared or sticky.',
    labelNames: ['pool', 'mode'],
    *samples(pools) {
      for (const p of pools) yield [{ pool: p.poolId, mode: p.mode }, 1];
    },
  },
  perStream('frames_published_total', 'counter', "Frames offered to the pool's latest-frame slot of the stream.", (s) => s.published),
  perStream('frames_taken_total', 'counter', 'Frames of the stream a member of the pool took (analysed).', (s) => s.taken),
  perStream('frames_dropped_total', 'counter', 'Frames of the stream replaced before any member of the pool took them.', (s) => s.dropped),
  perStream('coverage', 'gauge', 'Frames taken / frames published since the pool has served the stream (0 before the first frame).', (s) => s.coverage),
  {
    name: 'age_seconds',
    kind: 'gauge',
    help: 'Age of the frames of the stream when the pool delivered them (send time minus capture time), over the last 256 deliveries.',
    labelNames: ['pool', 'stream', 'quantile'],
    *samples(pools) {
      for (const p of pools) for (const s of p.streams) for (const [quantile, age] of AGE_QUANTILES) yield [{ pool: p.poolId, stream: s.streamId, quantile }, age(s) / US_PER_S];
    },
  },
  perStream('members', 'gauge', 'Members of the pool that serve the stream.', (s) => s.members),
  {
    name: 'stream_owner',
    kind: 'gauge',
    help: 'The member that owns the stream in a sticky pool (value 1; no series while it has no owner, and none in shared pools).',
    labelNames: ['pool', 'stream', 'owner'],
    *samples(pools) {
      for (const p of pools) for (const s of p.streams) if (s.owner !== '') yield [{ pool: p.poolId, stream: s.streamId, owner: s.owner }, 1];
    },
  },
  {
    name: 'ownership_changes_total',
    kind: 'counter',
    help: "Changes of a stream's owner since the pool was created (sticky pools).",
    labelNames: ['pool'],
    *samples(pools) {
      for (const p of pools) yield [{ pool: p.poolId }, p.ownershipChanges];
    },
  },
  perMember('member_credits_outstanding', 'gauge', 'Credits the member granted that wait for frames.', (m) => m.creditsOutstanding),
  perMember('member_frames_taken_total', 'counter', 'Frames the member took from the pool.', (m) => m.framesTaken),
  perMember('member_owned_streams', 'gauge', 'Streams the member owns (sticky pools).', (m) => m.ownedStreams),
];

/** Registers the pool series in `registry`, each reading `pools()` when scraped. */
export function registerPoolMetrics(registry: Registry, pools: () => readonly PoolStats[]): void {
  for (const series of POOL_SERIES) {
    const common = { name: `${PREFIX}${series.name}`, help: series.help, labelNames: series.labelNames, registers: [registry] };
    if (series.kind === 'counter') {
      new Counter({
        ...common,
        collect() {
          this.reset();
          for (const [labels, value] of series.samples(pools())) this.inc(labels, value);
        },
      });
    } else {
      new Gauge({
        ...common,
        collect() {
          this.reset();
          for (const [labels, value] of series.samples(pools())) this.set(labels, value);
        },
      });
    }
  }
}
