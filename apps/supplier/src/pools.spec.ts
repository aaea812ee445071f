// Worker pools at the supplier as a real process, driven over real gRPC: members of a pool divide a
// stream's frames (each to at most one member), batches of distinct streams, sticky owners that
// move when a member leaves, members of all streams, refusals with the field named, and the bound
// on what a member that never reads can hold. Assertions are on sequences, owners and counters,
// never on milliseconds: the pool benchmarks measure rates (`npm run bench -- pools`).
import * as grpc from '@grpc/grpc-js';
import { Delivery, Frame, FrameSupplierClient, PoolMode, PoolStats, PublishRequest, PullResponse, SubscribeRequest, SupplierStats } from '@framewire/proto';
import { ServiceProcess, startServiceProcess, stopServiceProcess, waitFor } from '@framewire/testing';

const MAX_POOL_CREDITS = 8;
/** How long a test waits for what must happen (a bound on a hang, not a speed). */
const WAIT_MS = 10_000;

let supplier: ServiceProcess;
let client: FrameSupplierClient;
const calls: { cancel(): void }[] = [];

function frame(streamId: string, sequence: number): Frame {
  return { streamId, sequence, captureTimeUs: Date.now() * 1000, width: 8, height: 8, pixelFormat: 1, sizeBytes: 64, data: Buffer.alloc(64, sequence % 256) };
}

/** A Publish call that writes frames on demand. */
function openPublisher(): { publish(streamId: string, sequence: number): void; end(): void } {
  const call: grpc.ClientWritableStream<PublishRequest> = client.publish(() => undefined);
  calls.push(call);
  return { publish: (streamId, sequence) => void call.write({ frame: frame(streamId, sequence) }), end: () => call.end() };
}

interface Member {
  deliveries: Delivery[];
  ended: Promise<grpc.StatusObject>;
  grant(credits: number): void;
  cancel(): void;
}

/** A pool member's Pull call; grants `credits` at once, and one more per delivery when `keepTaking`. */
function join(request: Partial<SubscribeRequest>, options: { credits?: number; keepTaking?: boolean } = {}): Member {
  const call: grpc.ClientDuplexStream<{ subscribe?: SubscribeRequest; credits?: number }, PullResponse> = client.pull();
  calls.push(call);
  const member: Member = {
    deliveries: [],
    ended: new Promise((resolve) => call.on('status', resolve)),
    grant: (credits) => void call.write({ credits }),
    cancel: () => call.cancel(),
  };
  call.on('error', () => undefined);
  call.on('data', (r: PullResponse) => {
    if (r.delivery === undefined) return;
    member.deliveries.push(r.delivery);
    if (options.keepTaking === true) member.grant(1);
  });
  call.write({ subscribe: SubscribeRequest.fromPartial(request) });
  if ((options.credits ?? 1) > 0) member.grant(options.credits ?? 1);
  return member;
}

function getStats(): Promise<SupplierStats> {
  return new Promise((resolve, reject) => client.getStats({}, (err, r) => (err ? reject(err) : resolve(r?.stats as SupplierStats))));
}

async function poolStats(poolId: string): Promise<PoolStats | undefined> {
  return (await getStats()).pools.find((p) => p.poolId === poolId);
}

/** Waits until `condition` holds (the condition's source names it in a timeout). */
const until = (condition: () => boolean | Promise<boolean>, timeoutMs: number) => waitFor(condition.toString().slice(0, 160), condition, timeoutMs);

const keys = (deliveries: readonly Delivery[]) => deliveries.map((d) => `${d.frame?.streamId}#${d.frame?.sequence}`);

beforeAll(async () => {
  supplier = await startServiceProcess('supplier', { FW_SUPPLIER_MAX_POOL_CREDITS: String(MAX_POOL_CREDITS), FW_SUPPLIER_MAX_WORKERS: '32' }, { listeners: ['gRPC'] });
  client = new FrameSupplierClient(`127.0.0.1:${supplier.port}`, grpc.credentials.createInsecure());
});

afterEach(() => {
  for (const c of calls.splice(0)) c.cancel();
});

afterAll(async () => {
  client?.close();
  if (supplier) expect((await stopServiceProcess(supplier)).code).toBe(0);
});

describe('a shared pool', () => {
  it('gives each frame of a stream to at most one member, and counts every frame as taken or dropped', async () => {
    const a = join({ workerId: 'sh-a', poolId: 'sh', streamId: 'cam-sh' }, { keepTaking: true });
    const b = join({ workerId: 'sh-b', poolId: 'sh', streamId: 'cam-sh' }, { keepTaking: true });
    await until(async () => (await poolStats('sh'))?.members.length === 2, WAIT_MS);
    const publisher = openPublisher();
    for (let sequence = 1; sequence <= 200; sequence++) {
      publisher.publish('cam-sh', sequence);
      if (sequence % 20 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await until(async () => (await poolStats('sh'))?.streams[0]?.published === 200, WAIT_MS);
    const stats = (await poolStats('sh')) as PoolStats;
    const stream = stats.streams[0];
    await until(() => a.deliveries.length + b.deliveries.length === stream.taken, WAIT_MS);

    const all = [...keys(a.deliveries), ...keys(b.deliveries)];
    expect(new Set(all).size).toBe(all.length);
    expect(a.deliveries.length).toBeGreaterThan(0);
    expect(b.deliveries.length).toBeGreaterThan(0);
    expect([...a.deliveries, ...b.deliveries].every((d) => d.poolId === 'sh' && d.batchRemaining === 0)).toBe(true);
    expect(stats).toMatchObject({ mode: 'shared', members: [{ workerId: 'sh-a' }, { workerId: 'sh-b' }] });
    expect(stream).toMatchObject({ streamId: 'cam-sh', members: 2, owner: '' });
    expect(stream.published - stream.taken - stream.dropped).toBeLessThanOrEqual(1);
    expect(stream.coverage).toBeCloseTo(stream.taken / stream.published, 6);
    // Drops are the pool's: between two deliveries of the stream (to any member), the frames in between.
    const bySequence = [...a.deliveries, ...b.deliveries].sort((x, y) => (x.frame?.sequence ?? 0) - (y.frame?.sequence ?? 0));
    const missed = bySequence.reduce((sum, d) => sum + d.droppedSinceLast, 0);
    expect(missed).toBe((bySequence.at(-1)?.frame?.sequence ?? 0) - bySequence.length);
    // The pool's members are workers of the supplier, with their pool named.
    expect((await getStats()).workers.filter((w) => w.poolId === 'sh').map((w) => w.workerId).sort()).toEqual(['sh-a', 'sh-b']);
    publisher.end();
  });

  it('delivers a batch of distinct streams when a member grants several credits, numbered by batch_remaining', async () => {
    const member = join({ workerId: 'batch-a', poolId: 'batch', streamIds: ['cam-b1', 'cam-b2', 'cam-b3'] }, { credits: 0 });
    await until(async () => (await poolStats('batch'))?.members.length === 1, WAIT_MS);
    const publisher = openPublisher();
    for (const streamId of ['cam-b1', 'cam-b2', 'cam-b3']) for (let sequence = 1; sequence <= 3; sequence++) publisher.publish(streamId, sequence);
    await until(async () => (await poolStats('batch'))?.streams.every((s) => s.published === 3) === true, WAIT_MS);
    member.grant(5);
    await until(() => member.deliveries.length === 3, WAIT_MS);
    expect(member.deliveries.map((d) => d.batchRemaining)).toEqual([2, 1, 0]);
    // The newest frame of each stream, each stream once; the frames before it are the pool's drops.
    expect(keys(member.deliveries).sort()).toEqual(['cam-b1#3', 'cam-b2#3', 'cam-b3#3']);
    expect(member.deliveries.map((d) => d.droppedSinceLast)).toEqual([2, 2, 2]);
    // Two credits are left: the next frame goes at once, in a batch of one.
    publisher.publish('cam-b2', 4);
    await until(() => member.deliveries.length === 4, WAIT_MS);
    expect(member.deliveries[3]).toMatchObject({ batchRemaining: 0, frame: { streamId: 'cam-b2', sequence: 4 } });
    publisher.end();
  });

  it('serves a stream that appears after a member of all streams joined', async () => {
    const member = join({ workerId: 'all-a', poolId: 'all', allStreams: true }, { keepTaking: true });
    await until(async () => (await poolStats('all'))?.members.length === 1, WAIT_MS);
    const publisher = openPublisher();
    publisher.publish('cam-late', 1);
    await until(() => member.deliveries.some((d) => d.frame?.streamId === 'cam-late'), WAIT_MS);
    expect((await poolStats('all'))?.members[0]).toMatchObject({ workerId: 'all-a', allStreams: true, streamIds: [] });
    publisher.end();
  });

  it('holds at most FW_SUPPLIER_MAX_POOL_CREDITS for a member that grants without reading', async () => {
    const greedy = join({ workerId: 'greedy', poolId: 'greedy', streamId: 'cam-greedy' }, { credits: 0 });
    greedy.grant(1_000_000);
    greedy.grant(1_000_000);
    await until(async () => (await poolStats('greedy'))?.members[0]?.creditsOutstanding === MAX_POOL_CREDITS, WAIT_MS);
  });
});

describe('a sticky pool', () => {
  it('gives each stream one owner, spread evenly, and moves a leaving member’s streams to the others', async () => {
    const streams = ['cam-s1', 'cam-s2', 'cam-s3', 'cam-s4'];
    const members = ['st-a', 'st-b', 'st-c'].map((workerId) => join({ workerId, poolId: 'st', poolMode: PoolMode.POOL_MODE_STICKY, streamIds: streams }, { keepTaking: true }));
    await until(async () => (await poolStats('st'))?.members.length === 3, WAIT_MS);
    const owned = async () => {
      const stats = (await poolStats('st')) as PoolStats;
      return Object.fromEntries(stats.members.map((m) => [m.workerId, stats.streams.filter((s) => s.owner === m.workerId).map((s) => s.streamId)]));
    };
    const before = await owned();
    expect(Object.values(before).map((s) => s.length).sort()).toEqual([1, 1, 2]);

    const publisher = openPublisher();
    let sequence = 0;
    const publishRound = () => {
      sequence++;
      for (const s of streams) publisher.publish(s, sequence);
    };
    publishRound();
    await until(() => members.reduce((n, m) => n + m.deliveries.length, 0) === 4, WAIT_MS);
    // Every frame went to its stream's owner.
    members.forEach((m, i) => expect(m.deliveries.map((d) => d.frame?.streamId).sort()).toEqual([...before[`st-${'abc'[i]}`]].sort()));

    // The member with two streams dies: both go to the others, nothing else moves.
    const leaving = Object.entries(before).find(([, s]) => s.length === 2)?.[0] as string;
    members[['st-a', 'st-b', 'st-c'].indexOf(leaving)].cancel();
    await until(async () => (await poolStats('st'))?.members.length === 2, WAIT_MS);
    const after = await owned();
    expect(Object.keys(after).sort()).toEqual(['st-a', 'st-b', 'st-c'].filter((id) => id !== leaving));
    for (const [id, s] of Object.entries(after)) expect(s).toEqual(expect.arrayContaining(before[id]));
    expect(Object.values(after).map((s) => s.length)).toEqual([2, 2]);
    expect((await poolStats('st'))?.ownershipChanges).toBeGreaterThanOrEqual(4 + 2);

    // Frames of the moved streams now reach their new owners.
    const counts = members.map((m) => m.deliveries.length);
    publishRound();
    await until(() => members.reduce((n, m, i) => n + m.deliveries.length - counts[i], 0) === 4, WAIT_MS);
    for (const [id, s] of Object.entries(after)) {
      const m = members[['st-a', 'st-b', 'st-c'].indexOf(id)];
      expect(m.deliveries.slice(counts[['st-a', 'st-b', 'st-c'].indexOf(id)]).map((d) => d.frame?.streamId).sort()).toEqual([...s].sort());
    }
    publisher.end();
  });
});

describe('refusals', () => {
  const statusOf = async (request: Partial<SubscribeRequest>) => {
    const m = join(request);
    return m.ended;
  };

  it('names the field of a malformed pool request', async () => {
    expect(await statusOf({ workerId: 'bad-1', streamId: 'cam-1', streamIds: ['cam-2'] })).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringContaining('stream_ids needs a pool_id'),
    });
    expect(await statusOf({ workerId: 'bad-2', poolId: 'p', allStreams: true, streamId: 'cam-1' })).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('all_streams') });
    expect(await statusOf({ workerId: 'bad-3', poolId: 'p q', streamId: 'cam-1' })).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('pool_id') });
    expect(await statusOf({ workerId: 'bad-4', poolId: 'p', streamId: 'cam-1', poolMode: 7 as PoolMode })).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('pool_mode') });
    expect(await statusOf({ workerId: 'bad-5', poolId: 'p' })).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('stream_ids') });
  });

  it('refuses a member asking another mode than the pool’s with FAILED_PRECONDITION naming pool_mode', async () => {
    join({ workerId: 'mode-a', poolId: 'mode', streamId: 'cam-1' });
    await until(async () => (await poolStats('mode'))?.members.length === 1, WAIT_MS);
    expect(await statusOf({ workerId: 'mode-b', poolId: 'mode', streamId: 'cam-1', poolMode: PoolMode.POOL_MODE_STICKY })).toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      details: expect.stringMatching(/^pool_mode conflicts: pool "mode" runs in shared mode; worker "mode-b" asked for sticky/),
    });
  });

  it('refuses a pool on Subscribe, which has no credits', async () => {
    const call = client.subscribe(SubscribeRequest.fromPartial({ workerId: 'sub-pool', poolId: 'p', streamId: 'cam-1' }));
    calls.push(call);
    const error = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    expect(error).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('pool_id') });
  });
});
