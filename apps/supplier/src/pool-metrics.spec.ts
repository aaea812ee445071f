// The pools' Prometheus series of the supplier as a real process: pool members are raw Pull calls
// over real gRPC, frames come over a real Publish call, and /metrics is scraped over HTTP and
// compared with GetStats. Series of a member, stream or pool that went away must be gone at the
// next scrape, not accumulate.
import * as grpc from '@grpc/grpc-js';
import { FrameSupplierClient, PoolMode, PoolStats, PublishRequest } from '@framewire/proto';
import { openPull, PullClient, ServiceProcess, startServiceProcess, stopServiceProcess, supplierStats, testFrame, waitFor } from '@framewire/testing';

/** A bound on waiting for what must happen (not a speed). */
const WAIT_MS = 10_000;
const FRAMES_PER_STREAM = 20;

let supplier: ServiceProcess;
let client: FrameSupplierClient;
const pulls: PullClient[] = [];
const publishers: grpc.ClientWritableStream<PublishRequest>[] = [];

interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (label values here never hold quotes or commas). */
function parseExposition(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

async function scrape(): Promise<MetricSample[]> {
  const response = await fetch(`http://127.0.0.1:${supplier.ports.metrics}/metrics`);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

/** The value of the one sample of `name` with exactly `labels`; undefined when there is none. */
function valueOf(samples: readonly MetricSample[], name: string, labels: Record<string, string>): number | undefined {
  const found = samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()));
  expect(found.length).toBeLessThanOrEqual(1);
  return found[0]?.value;
}

const poolSamples = (samples: readonly MetricSample[]) => samples.filter((s) => s.name.startsWith('framewire_pool_'));

function publishFrames(streamIds: readonly string[], count: number): grpc.ClientWritableStream<PublishRequest> {
  const call = client.publish(() => undefined);
  publishers.push(call);
  for (let sequence = 1; sequence <= count; sequence++) for (const streamId of streamIds) call.write({ frame: testFrame(streamId, sequence) });
  return call;
}

function join(workerId: string, poolId: string, pool: { streamIds?: string[]; allStreams?: boolean; sticky?: boolean }): PullClient {
  const pull = openPull(
    `127.0.0.1:${supplier.port}`,
    { workerId, streamId: '', poolId, streamIds: pool.streamIds ?? [], allStreams: pool.allStreams ?? false, poolMode: pool.sticky ? PoolMode.POOL_MODE_STICKY : PoolMode.POOL_MODE_SHARED },
    { keepTaking: true },
  );
  pulls.push(pull);
  return pull;
}

async function poolOf(poolId: string): Promise<PoolStats | undefined> {
  return (await supplierStats(`127.0.0.1:${supplier.port}`)).pools.find((p) => p.poolId === poolId);
}

/** Waits until every frame of the pool's streams was taken or dropped (nothing pending: the counters rest). */
async function poolSettled(poolId: string, streams: number, published: number): Promise<PoolStats> {
  await waitFor(
    `pool ${poolId} to take or drop all ${published} frames of its ${streams} streams`,
    async () => {
      const p = await poolOf(poolId);
      return p?.streams.length === streams && p.streams.every((s) => s.published === published && s.taken + s.dropped === s.published);
    },
    WAIT_MS,
  );
  return (await poolOf(poolId)) as PoolStats;
}

beforeAll(async () => {
  supplier = await startServiceProcess('supplier', {}, { listeners: ['gRPC', 'metrics'] });
  client = new FrameSupplierClient(`127.0.0.1:${supplier.port}`, grpc.credentials.createInsecure());
});

afterEach(() => {
  for (const pull of pulls.splice(0)) pull.close();
  for (const publisher of publishers.splice(0)) publisher.cancel();
});

afterAll(async () => {
  client?.close();
  if (supplier) expect((await stopServiceProcess(supplier)).code).toBe(0);
});

describe('the pools on /metrics', () => {
  it('exports per pool, stream and member exactly what GetStats reports, and moves the owner series with the owner', async () => {
    join('pm-a', 'pm', { streamIds: ['cam-pm1', 'cam-pm2'], sticky: true });
    join('pm-b', 'pm', { streamIds: ['cam-pm1', 'cam-pm2'], sticky: true });
    await waitFor('both members', async () => (await poolOf('pm'))?.members.length === 2, WAIT_MS);
    publishFrames(['cam-pm1', 'cam-pm2'], FRAMES_PER_STREAM);
    const stats = await poolSettled('pm', 2, FRAMES_PER_STREAM);
    const samples = await scrape();

    expect(valueOf(samples, 'framewire_pool_info', { pool: 'pm', mode: 'sticky' })).toBe(1);
    expect(valueOf(samples, 'framewire_pool_ownership_changes_total', { pool: 'pm' })).toBe(stats.ownershipChanges);
    for (const s of stats.streams) {
      const labels = { pool: 'pm', stream: s.streamId };
      expect({
        stream: s.streamId,
        published: valueOf(samples, 'framewire_pool_frames_published_total', labels),
        taken: valueOf(samples, 'framewire_pool_frames_taken_total', labels),
        dropped: valueOf(samples, 'framewire_pool_frames_dropped_total', labels),
        coverage: valueOf(samples, 'framewire_pool_coverage', labels),
        members: valueOf(samples, 'framewire_pool_members', labels),
        p50: valueOf(samples, 'framewire_pool_age_seconds', { ...labels, quantile: '0.5' }),
        p99: valueOf(samples, 'framewire_pool_age_seconds', { ...labels, quantile: '0.99' }),
        owner: samples.filter((x) => x.name === 'framewire_pool_stream_owner' && x.labels.stream === s.streamId).map((x) => [x.labels.owner, x.value]),
      }).toEqual({
        stream: s.streamId,
        published: FRAMES_PER_STREAM,
        taken: s.taken,
        dropped: s.dropped,
        coverage: s.coverage,
        members: 2,
        p50: s.ageP50Us / 1e6,
        p99: s.ageP99Us / 1e6,
        owner: [[s.owner, 1]],
      });
      expect(s.taken).toBeGreaterThan(0);
    }
    // One stream each: the sticky pool spreads its two streams over its two members.
    expect(stats.streams.map((s) => s.owner).sort()).toEqual(['pm-a', 'pm-b']);
    for (const m of stats.members) {
      const labels = { pool: 'pm', member: m.workerId };
      expect([
        valueOf(samples, 'framewire_pool_member_frames_taken_total', labels),
        valueOf(samples, 'framewire_pool_member_credits_outstanding', labels),
        valueOf(samples, 'framewire_pool_member_owned_streams', labels),
      ]).toEqual([m.framesTaken, m.creditsOutstanding, 1]);
    }

    // pm-a leaves: its streams move to pm-b; no series names pm-a any more.
    pulls[0].close();
    await waitFor('pm-b to own both streams', async () => (await poolOf('pm'))?.streams.every((s) => s.owner === 'pm-b') === true, WAIT_MS);
    const after = await scrape();
    expect(poolSamples(after).filter((s) => Object.values(s.labels).includes('pm-a'))).toEqual([]);
    expect(after.filter((s) => s.name === 'framewire_pool_stream_owner').map((s) => [s.labels.stream, s.labels.owner]).sort()).toEqual([
      ['cam-pm1', 'pm-b'],
      ['cam-pm2', 'pm-b'],
    ]);
    expect(valueOf(after, 'framewire_pool_member_owned_streams', { pool: 'pm', member: 'pm-b' })).toBe(2);
    expect(valueOf(after, 'framewire_pool_members', { pool: 'pm', stream: 'cam-pm1' })).toBe(1);
  });

  it('drops the series of a stream that went away and of a pool whose last member left, keeping the others', async () => {
    const leaving = join('gone-a', 'gone', { streamIds: ['cam-gone'] });
    join('all-a', 'every', { allStreams: true });
    await waitFor('both pools', async () => (await poolOf('gone')) !== undefined && (await poolOf('every')) !== undefined, WAIT_MS);
    // cam-brief lives only while this publisher publishes it (a member of all streams does not keep it).
    const publisher = publishFrames(['cam-gone', 'cam-brief'], FRAMES_PER_STREAM);
    await poolSettled('gone', 1, FRAMES_PER_STREAM);
    await waitFor('pool every to serve cam-brief', async () => (await poolOf('every'))?.streams.some((s) => s.streamId === 'cam-brief' && s.published === FRAMES_PER_STREAM) === true, WAIT_MS);
    const before = poolSamples(await scrape());
    expect(before.filter((s) => s.labels.pool === 'gone').length).toBeGreaterThan(0);
    expect(before.filter((s) => s.labels.stream === 'cam-brief').map((s) => s.labels.pool)).toContain('every');

    publisher.end();
    leaving.close();
    await waitFor(
      'cam-brief, cam-gone and pool gone to go away',
      async () => {
        const p = await poolOf('every');
        return (await poolOf('gone')) === undefined && p !== undefined && p.streams.length === 0;
      },
      WAIT_MS,
    );
    const after = poolSamples(await scrape());
    expect(after.filter((s) => s.labels.pool === 'gone' || s.labels.stream === 'cam-brief' || s.labels.stream === 'cam-gone')).toEqual([]);
    expect(valueOf(after, 'framewire_pool_info', { pool: 'every', mode: 'shared' })).toBe(1);
    expect(valueOf(after, 'framewire_pool_member_credits_outstanding', { pool: 'every', member: 'all-a' })).toBe(1);
  });
});
