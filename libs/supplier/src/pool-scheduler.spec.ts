import fc from 'fast-check';
import { InvalidRequestError, PoolMembershipError, PoolSchedulerReenteredError, SupplierLimitError } from './errors';
import { PoolScheduler, PoolSchedulerOptions } from './pool-scheduler';
import type { OwnershipChange } from './sticky-ownership';
import { errorOf } from '@framewire/testing';

/** A frame the tests can tell apart. */
interface TestFrame {
  id: number;
  streamId: string;
}

/** One deliver callback call, copied out of the reused records. */
interface Batch {
  memberId: string;
  frames: { poolId: string; streamId: string; id: number; ageUs: number; droppedSinceLast: number }[];
}

function poolsWithClock(options: Partial<PoolSchedulerOptions<TestFrame>> = {}) {
  const clock = { us: 1_000_000 };
  const batches: Batch[] = [];
  const scheduler = new PoolScheduler<TestFrame>({
    maxPools: 4,
    maxMembersPerPool: 8,
    maxStreamsPerPool: 16,
    maxStreams: 16,
    now: () => clock.us,
    deliver: (memberId, batch) =>
      batches.push({
        memberId,
        frames: batch.map((d) => ({ poolId: d.poolId, streamId: d.streamId, id: d.frame.id, ageUs: d.takenAtUs - d.offeredAtUs, droppedSinceLast: d.droppedSinceLast })),
      }),
    ...options,
  });
  let nextId = 1;
  const offer = (streamId: string): TestFrame => {
    const frame = { id: nextId++, streamId };
    scheduler.offer(streamId, frame);
    return frame;
  };
  /** Ids of the frames `memberId` received, in order. */
  const idsOf = (memberId: string) => batches.filter((b) => b.memberId === memberId).flatMap((b) => b.frames.map((f) => f.id));
  const streamStats = (poolId: string, streamId: string) => scheduler.stats().find((p) => p.poolId === poolId)?.streams.find((s) => s.streamId === streamId);
  const memberStats = (poolId: string, memberId: string) => scheduler.stats().find((p) => p.poolId === poolId)?.members.find((m) => m.memberId === memberId);
  return { scheduler, clock, batches, offer, idsOf, streamStats, memberStats };
}

/** Streams owned per member of `poolId`. */
function ownedCounts(scheduler: PoolScheduler<TestFrame>, poolId: string): Record<string, number> {
  const pool = scheduler.stats().find((p) => p.poolId === poolId);
  return Object.fromEntries((pool?.members ?? []).map((m) => [m.memberId, m.ownedStreams]));
}

const CAMS = (n: number): string[] => Array.from({ length: n }, (_, i) => `cam-${i + 1}`);

describe('PoolScheduler', () => {
  describe('one latest-frame slot per pool and stream', () => {
    it('delivers a frame to one member of a shared pool only', () => {
      const { scheduler, offer, batches } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: ['cam-1'] });
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'b', streams: ['cam-1'] });
      scheduler.grant('a', 1);
      scheduler.grant('b', 1);
      const frame = offer('cam-1');
      expect(batches).toEqual([{ memberId: 'a', frames: [expect.objectContaining({ id: frame.id, streamId: 'cam-1', poolId: 'p' })] }]);
    });

    it('replaces the untaken frame with the newer one and counts the drop for the pool and stream', () => {
      const { scheduler, offer, batches, streamStats, clock } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: ['cam-1'] });
      offer('cam-1');
      offer('cam-1');
      clock.us += 10;
      const newest = offer('cam-1');
      clock.us += 500;
      scheduler.grant('a', 1);
      expect(batches).toEqual([{ memberId: 'a', frames: [{ poolId: 'p', streamId: 'cam-1', id: newest.id, ageUs: 500, droppedSinceLast: 2 }] }]);
      expect(streamStats('p', 'cam-1')).toMatchObject({ published: 3, taken: 1, dropped: 2, pending: false });
    });

    it('gives each pool of a stream its own slot: both pools take the same frame once each', () => {
      const { scheduler, offer, idsOf } = poolsWithClock();
      scheduler.join({ poolId: 'p1', mode: 'shared', memberId: 'a', streams: ['cam-1'] });
      scheduler.join({ poolId: 'p2', mode: 'sticky', memberId: 'b', streams: ['cam-1'] });
      scheduler.grant('a', 2);
      scheduler.grant('b', 2);
      const frame = offer('cam-1');
      expect(idsOf('a')).toEqual([frame.id]);
      expect(idsOf('b')).toEqual([frame.id]);
    });

    it('offers nothing and counts nothing for a stream no pool has', () => {
      const { scheduler } = poolsWithClock();
      expect(scheduler.hasPools).toBe(false);
      expect(scheduler.offer('cam-1', { id: 1, streamId: 'cam-1' })).toBe(0);
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: ['cam-1'] });
      expect(scheduler.hasPools).toBe(true);
      expect(scheduler.offer('cam-2', { id: 2, streamId: 'cam-2' })).toBe(0);
      expect(scheduler.stats()[0].streams.map((s) => s.streamId)).toEqual(['cam-1']);
    });
  });

  describe('credits', () => {
    it('delivers up to k pending frames of distinct streams in one batch when a member grants k', () => {
      const { scheduler, offer, batches } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: CAMS(4) });
      for (const cam of CAMS(4)) offer(cam);
      offer('cam-2');
      scheduler.grant('a', 3);
      expect(batches).toHaveLength(1);
      const streams = batches[0].frames.map((f) => f.streamId);
      expect(streams).toHaveLength(3);
      expect(new Set(streams).size).toBe(3);
    });

    it('keeps unused credits granted and sends each later frame as soon as it is offered', () => {
      const { scheduler, offer, batches, memberStats } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: CAMS(2) });
      offer('cam-1');
      expect(scheduler.grant('a', 3)).toBe(2);
      expect(memberStats('p', 'a')).toMatchObject({ creditsOutstanding: 2, framesTaken: 1 });
      offer('cam-2');
      offer('cam-1');
      expect(batches.map((b) => b.frames.map((f) => f.streamId))).toEqual([['cam-1'], ['cam-2'], ['cam-1']]);
      expect(memberStats('p', 'a')).toMatchObject({ creditsOutstanding: 0, framesTaken: 3 });
      offer('cam-1');
      expect(batches).toHaveLength(3);
    });

    it('keeps at most maxCreditsPerMember credits', () => {
      const { scheduler } = poolsWithClock({ maxCreditsPerMember: 5 });
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: 'all' });
      expect(scheduler.grant('a', 4)).toBe(4);
      expect(scheduler.grant('a', 4)).toBe(5);
    });

    it('refuses a grant that is not a whole number of at least 1, or of a worker in no pool', () => {
      const { scheduler } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: 'all' });
      for (const bad of [0, -1, 1.5, Number.NaN]) {
        expect(errorOf(() => scheduler.grant('a', bad))).toMatchObject({ name: 'InvalidRequestError', field: 'credits' });
      }
      const unknown = errorOf(() => scheduler.grant('ghost', 1));
      expect(unknown).toBeInstanceOf(PoolMembershipError);
      expect(unknown).toMatchObject({ problem: 'unknown-member', field: 'worker_id', message: 'worker "ghost" is not a member of any pool' });
    });
  });

  describe('shared pools', () => {
    it('gives a frame to the member that has waited longest, then to the next in line', () => {
      const { scheduler, offer, batches } = poolsWithClock();
      for (const m of ['a', 'b', 'c']) scheduler.join({ poolId: 'p', mode: 'shared', memberId: m, streams: ['cam-1'] });
      scheduler.grant('b', 2);
      scheduler.grant('c', 1);
      scheduler.grant('a', 1);
      scheduler.grant('b', 1); // b keeps its place in line: it is still the longest waiting
      for (let i = 0; i < 5; i++) offer('cam-1');
      expect(batches.map((b) => b.memberId)).toEqual(['b', 'c', 'a', 'b', 'b']);
    });

    it('skips a waiting member that does not serve the stream', () => {
      const { scheduler, offer, idsOf } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: ['cam-1'] });
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'b', streams: ['cam-2'] });
      scheduler.grant('a', 1);
      scheduler.grant('b', 1);
      const frame = offer('cam-2');
      expect(idsOf('b')).toEqual([frame.id]);
      expect(idsOf('a')).toEqual([]);
    });

    it('takes the stream that has waited longest first, so no stream starves however many there are', () => {
      const { scheduler, offer, batches } = poolsWithClock({ maxStreamsPerPool: 64, maxStreams: 64 });
      const cams = CAMS(40);
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: cams });
      // Every stream always has a frame; the member takes one at a time: a round robin.
      for (let i = 0; i < 3 * cams.length; i++) {
        for (const cam of cams) offer(cam);
        scheduler.grant('a', 1);
      }
      const taken = batches.map((b) => b.frames[0].streamId);
      for (let round = 0; round < 3; round++) expect(new Set(taken.slice(round * 40, round * 40 + 40)).size).toBe(40);
    });

    it('puts a stream never taken in line at its first frame', () => {
      const { scheduler, offer, batches } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: CAMS(3) });
      offer('cam-3');
      offer('cam-1');
      offer('cam-2');
      scheduler.grant('a', 1);
      offer('cam-3');
      scheduler.grant('a', 2);
      expect(batches.map((b) => b.frames.map((f) => f.streamId))).toEqual([['cam-3'], ['cam-1', 'cam-2']]);
      scheduler.grant('a', 1);
      expect(batches[2].frames.map((f) => f.streamId)).toEqual(['cam-3']);
    });

    it('serves streams added later to a member of all streams, and listed streams without addStream', () => {
      const { scheduler, offer, idsOf } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'any', streams: 'all' });
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'listed', streams: ['cam-9'] });
      scheduler.grant('any', 4);
      const early = offer('cam-9'); // listed: the pool has it before the supplier announced it
      const beforeAdd = offer('cam-2');
      scheduler.addStream('cam-2');
      const afterAdd = offer('cam-2');
      expect(idsOf('any')).toEqual([early.id, afterAdd.id]);
      expect(beforeAdd.id).toBeLessThan(afterAdd.id);
    });
  });

  describe('sticky pools', () => {
    it('delivers a stream only to its owner', () => {
      const { scheduler, offer, idsOf } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'a', streams: ['cam-1', 'cam-2'] });
      scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'b', streams: ['cam-1', 'cam-2'] });
      const owner1 = scheduler.ownerOf('p', 'cam-1') as string;
      const other = owner1 === 'a' ? 'b' : 'a';
      expect(scheduler.ownerOf('p', 'cam-2')).toBe(other);
      scheduler.grant(other, 4);
      const f1 = offer('cam-1');
      expect(idsOf(other)).toEqual([]);
      scheduler.grant(owner1, 1);
      expect(idsOf(owner1)).toEqual([f1.id]);
    });

    it('spreads streams evenly and moves only what the balance needs when a member joins', () => {
      const { scheduler } = poolsWithClock();
      for (const cam of CAMS(10)) scheduler.addStream(cam);
      const first = scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'a', streams: 'all' });
      expect(first).toHaveLength(10);
      expect(first.every((c) => c.from === undefined && c.to === 'a')).toBe(true);
      expect(scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'b', streams: 'all' })).toHaveLength(5);
      expect(ownedCounts(scheduler, 'p')).toEqual({ a: 5, b: 5 });
      const third = scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'c', streams: 'all' });
      expect(third).toHaveLength(3);
      expect(third.every((c) => c.to === 'c' && c.poolId === 'p')).toBe(true);
      expect(Object.values(ownedCounts(scheduler, 'p')).sort()).toEqual([3, 3, 4]);
    });

    it('gives a leaving member’s streams to the others, moving nothing else', () => {
      const { scheduler } = poolsWithClock();
      for (const cam of CAMS(9)) scheduler.addStream(cam);
      let reported = 0;
      for (const m of ['a', 'b', 'c']) reported += scheduler.join({ poolId: 'p', mode: 'sticky', memberId: m, streams: 'all' }).length;
      expect(ownedCounts(scheduler, 'p')).toEqual({ a: 3, b: 3, c: 3 });
      const ownedByB = CAMS(9).filter((cam) => scheduler.ownerOf('p', cam) === 'b');
      const changes = scheduler.leave('b');
      expect(changes.map((c) => c.streamId).sort()).toEqual(ownedByB.sort());
      expect(changes.every((c) => c.from === 'b' && (c.to === 'a' || c.to === 'c'))).toBe(true);
      expect(Object.values(ownedCounts(scheduler, 'p')).sort()).toEqual([4, 5]);
      expect(scheduler.stats()[0].ownershipChanges).toBe(reported + changes.length);
    });

    it('rebalances when streams appear and disappear', () => {
      const { scheduler } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'a', streams: 'all' });
      scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'b', streams: 'all' });
      for (const cam of CAMS(4)) expect(scheduler.addStream(cam)).toEqual([{ poolId: 'p', streamId: cam, from: undefined, to: expect.any(String) }]);
      expect(ownedCounts(scheduler, 'p')).toEqual({ a: 2, b: 2 });
      const gone = CAMS(4).filter((cam) => scheduler.ownerOf('p', cam) === 'a');
      expect(scheduler.removeStream(gone[0])).toEqual([{ poolId: 'p', streamId: gone[0], from: 'a', to: undefined }]);
      const moved = scheduler.removeStream(gone[1]);
      expect(moved).toHaveLength(2); // the stream left, and b hands one of its two to a
      expect(ownedCounts(scheduler, 'p')).toEqual({ a: 1, b: 1 });
    });

    it('keeps a member that serves a stream no other serves as that stream’s owner', () => {
      const { scheduler } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'a', streams: ['cam-1', 'cam-2', 'cam-3'] });
      scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'b', streams: ['cam-4'] });
      expect(scheduler.ownerOf('p', 'cam-4')).toBe('b');
      expect(ownedCounts(scheduler, 'p')).toEqual({ a: 3, b: 1 });
      const changes = scheduler.leave('b');
      expect(changes).toEqual([{ poolId: 'p', streamId: 'cam-4', from: 'b', to: undefined }]);
      expect(scheduler.stats()[0].streams.map((s) => s.streamId)).toEqual(['cam-1', 'cam-2', 'cam-3']);
    });

    it('delivers a pending frame to the new owner at once when it holds a credit', () => {
      const { scheduler, offer, idsOf } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'a', streams: ['cam-1'] });
      scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'b', streams: ['cam-1'] });
      expect(scheduler.ownerOf('p', 'cam-1')).toBe('a');
      scheduler.grant('b', 1);
      const frame = offer('cam-1');
      expect(scheduler.leave('a')).toEqual([{ poolId: 'p', streamId: 'cam-1', from: 'a', to: 'b' }]);
      expect(idsOf('b')).toEqual([frame.id]);
    });
  });

  describe('membership', () => {
    it('removes a pool with its last member, and a stream no member serves', () => {
      const { scheduler, offer } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: ['cam-1'] });
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'b', streams: ['cam-2'] });
      offer('cam-1');
      scheduler.leave('a');
      expect(scheduler.stats()[0].streams.map((s) => s.streamId)).toEqual(['cam-2']);
      expect(scheduler.offer('cam-1', { id: 99, streamId: 'cam-1' })).toBe(0);
      scheduler.leave('b');
      expect(scheduler.stats()).toEqual([]);
      expect(scheduler.hasPools).toBe(false);
      expect(scheduler.leave('b')).toEqual([]);
    });

    it('keeps a stream that a member lists when the supplier removes it', () => {
      const { scheduler, streamStats, offer } = poolsWithClock();
      scheduler.addStream('cam-1');
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'any', streams: 'all' });
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'one', streams: ['cam-1'] });
      offer('cam-1');
      scheduler.removeStream('cam-1');
      expect(streamStats('p', 'cam-1')).toMatchObject({ published: 1, pending: true, members: 2 });
      scheduler.leave('one');
      expect(streamStats('p', 'cam-1')).toBeUndefined();
    });

    it('refuses a member id already in a pool, and a mode other than the pool’s', () => {
      const { scheduler } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: 'all' });
      expect(errorOf(() => scheduler.join({ poolId: 'q', mode: 'shared', memberId: 'a', streams: 'all' }))).toMatchObject({
        problem: 'member-exists',
        message: 'worker "a" is already a member of pool "p"',
      });
      expect(errorOf(() => scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'b', streams: 'all' }))).toMatchObject({
        problem: 'mode-conflict',
        field: 'pool_mode',
        message: 'pool_mode conflicts: pool "p" runs in shared mode; worker "b" asked for sticky',
      });
      expect(scheduler.poolOf('b')).toBeUndefined();
    });

    it('refuses bad ids, modes and stream lists with the field named', () => {
      const { scheduler } = poolsWithClock();
      const join = (over: object) => errorOf(() => scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: ['cam-1'], ...over }));
      expect(join({ poolId: '' })).toMatchObject({ field: 'pool_id', message: 'pool_id is empty' });
      expect(join({ memberId: 'bad id' })).toMatchObject({ field: 'worker_id' });
      expect(join({ mode: 'round-robin' })).toMatchObject({ field: 'pool_mode', message: 'pool_mode "round-robin" is not one of shared, sticky' });
      expect(join({ streams: [] })).toMatchObject({ field: 'stream_ids' });
      expect(join({ streams: ['cam 1'] })).toMatchObject({ field: 'stream_ids' });
      expect(join({ streams: [] })).toBeInstanceOf(InvalidRequestError);
      expect(errorOf(() => scheduler.addStream('../x'))).toMatchObject({ field: 'stream_id' });
      expect(scheduler.stats()).toEqual([]);
    });
  });

  describe('limits', () => {
    it('refuses a pool beyond maxPools, a member beyond maxMembersPerPool, naming the limit', () => {
      const { scheduler } = poolsWithClock({ maxPools: 1, maxMembersPerPool: 2 });
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: 'all' });
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'b', streams: 'all' });
      const pools = errorOf(() => scheduler.join({ poolId: 'q', mode: 'shared', memberId: 'c', streams: 'all' }));
      expect(pools).toBeInstanceOf(SupplierLimitError);
      expect(pools).toMatchObject({ limit: 'pools', value: 2, max: 1, message: 'pool "q" would exceed the limit of 1 pools' });
      expect(errorOf(() => scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'c', streams: 'all' }))).toMatchObject({
        limit: 'poolMembers',
        value: 3,
        max: 2,
        message: 'worker "c" would exceed the limit of 2 members of pool "p"',
      });
    });

    it('refuses streams beyond maxStreamsPerPool at join and at addStream, changing nothing', () => {
      const { scheduler } = poolsWithClock({ maxStreamsPerPool: 3, maxStreams: 5 });
      scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'a', streams: ['cam-1', 'cam-2'] });
      expect(errorOf(() => scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'b', streams: ['cam-3', 'cam-4'] }))).toMatchObject({
        limit: 'poolStreams',
        value: 4,
        max: 3,
      });
      expect(scheduler.poolOf('b')).toBeUndefined();
      scheduler.join({ poolId: 'q', mode: 'shared', memberId: 'any', streams: 'all' });
      for (const cam of CAMS(3)) scheduler.addStream(cam);
      const error = errorOf(() => scheduler.addStream('cam-4'));
      expect(error).toMatchObject({ limit: 'poolStreams', message: 'pool "q" would serve 4 streams (stream "cam-4" among them), over the limit of 3 streams per pool' });
      expect(scheduler.offer('cam-4', { id: 1, streamId: 'cam-4' })).toBe(0);
      scheduler.addStream('cam-3'); // known already: nothing to do
      scheduler.leave('any');
      scheduler.addStream('cam-4');
      scheduler.addStream('cam-5');
      expect(errorOf(() => scheduler.addStream('cam-6'))).toMatchObject({ limit: 'streams', value: 6, max: 5 });
    });

    it('refuses options that are not whole numbers of at least 1', () => {
      expect(() => poolsWithClock({ maxPools: 0 })).toThrow('maxPools must be a whole number of at least 1 (got 0)');
      expect(() => poolsWithClock({ maxCreditsPerMember: 1.5 })).toThrow(RangeError);
    });
  });

  describe('statistics', () => {
    it('reports published, taken, dropped, coverage and age at delivery per pool and stream', () => {
      const { scheduler, offer, clock, streamStats } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: ['cam-1'] });
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'b', streams: ['cam-1'] });
      // 100 frames taken at ages 1..100 ms, and 100 dropped.
      for (let i = 1; i <= 100; i++) {
        offer('cam-1');
        offer('cam-1');
        clock.us += i * 1000;
        scheduler.grant(i % 2 === 0 ? 'a' : 'b', 1);
      }
      offer('cam-1');
      expect(streamStats('p', 'cam-1')).toEqual({
        streamId: 'cam-1',
        published: 201,
        taken: 100,
        dropped: 100,
        pending: true,
        coverage: 100 / 201,
        ageP50Us: 50_000,
        ageP99Us: 99_000,
        ageSamples: 100,
        members: 2,
        owner: '',
      });
    });

    it('keeps the ages of the last ageWindowSamples takes only', () => {
      const { scheduler, offer, clock, streamStats } = poolsWithClock({ ageWindowSamples: 10 });
      scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: ['cam-1'] });
      for (let i = 1; i <= 30; i++) {
        offer('cam-1');
        clock.us += i;
        scheduler.grant('a', 1);
      }
      expect(streamStats('p', 'cam-1')).toMatchObject({ ageSamples: 10, ageP50Us: 25, ageP99Us: 30 });
    });

    it('reports per member its streams, credits outstanding, frames taken and streams owned', () => {
      const { scheduler, offer, memberStats, streamStats } = poolsWithClock();
      scheduler.join({ poolId: 'p', mode: 'sticky', memberId: 'a', streams: ['cam-1', 'cam-2'] });
      offer('cam-1');
      scheduler.grant('a', 3);
      expect(memberStats('p', 'a')).toEqual({ memberId: 'a', allStreams: false, streamIds: ['cam-1', 'cam-2'], creditsOutstanding: 2, framesTaken: 1, ownedStreams: 2 });
      expect(streamStats('p', 'cam-2')).toMatchObject({ owner: 'a', members: 1, published: 0, coverage: 0 });
    });
  });

  it('refuses to be driven from inside its own deliver callback', () => {
    const errors: unknown[] = [];
    const scheduler: PoolScheduler<TestFrame> = new PoolScheduler<TestFrame>({
      maxPools: 1,
      maxMembersPerPool: 1,
      maxStreamsPerPool: 1,
      maxStreams: 1,
      now: () => 0,
      deliver: (memberId) => errors.push(errorOf(() => scheduler.grant(memberId, 1))),
    });
    scheduler.join({ poolId: 'p', mode: 'shared', memberId: 'a', streams: ['cam-1'] });
    scheduler.grant('a', 1);
    scheduler.offer('cam-1', { id: 1, streamId: 'cam-1' });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(PoolSchedulerReenteredError);
    expect(scheduler.grant('a', 1)).toBe(1); // usable again once the callback returned
  });
});

describe('PoolScheduler properties', () => {
  const STREAMS = ['s0', 's1', 's2', 's3', 's4'];
  const MEMBERS = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'];
  const POOLS = [
    { poolId: 'shared-pool', mode: 'shared' as const },
    { poolId: 'sticky-pool', mode: 'sticky' as const },
  ];
  const MAX_CREDITS = 3;

  type Command =
    | { op: 'join'; member: number; pool: number; streams: 'all' | string[] }
    | { op: 'leave'; member: number }
    | { op: 'offer'; stream: number }
    | { op: 'grant'; member: number; credits: number }
    | { op: 'add'; stream: number }
    | { op: 'remove'; stream: number }
    | { op: 'tick'; us: number };

  const member = fc.integer({ min: 0, max: MEMBERS.length - 1 });
  const stream = fc.integer({ min: 0, max: STREAMS.length - 1 });
  const command: fc.Arbitrary<Command> = fc.oneof(
    fc.record({ op: fc.constant('join' as const), member, pool: fc.integer({ min: 0, max: 1 }), streams: fc.oneof(fc.constant('all' as const), fc.subarray(STREAMS, { minLength: 1 })) }),
    fc.record({ op: fc.constant('leave' as const), member }),
    fc.record({ op: fc.constant('offer' as const), stream }),
    fc.record({ op: fc.constant('offer' as const), stream }),
    fc.record({ op: fc.constant('grant' as const), member, credits: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ op: fc.constant('grant' as const), member, credits: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ op: fc.constant('add' as const), stream }),
    fc.record({ op: fc.constant('remove' as const), stream }),
    fc.record({ op: fc.constant('tick' as const), us: fc.integer({ min: 1, max: 1000 }) }),
  );

  interface ModelMember {
    poolId: string;
    streams: 'all' | ReadonlySet<string>;
    credits: number;
    framesTaken: number;
  }

  /** Runs `commands` against a scheduler and a model of what it must do, checking after each. */
  function check(commands: Command[]): void {
    let nowUs = 0;
    let opBatches: Batch[] = [];
    const scheduler = new PoolScheduler<TestFrame>({
      maxPools: 2,
      maxMembersPerPool: 4,
      maxStreamsPerPool: STREAMS.length,
      maxStreams: STREAMS.length,
      maxCreditsPerMember: MAX_CREDITS,
      now: () => nowUs,
      deliver: (memberId, batch) =>
        opBatches.push({ memberId, frames: batch.map((d) => ({ poolId: d.poolId, streamId: d.streamId, id: d.frame.id, ageUs: d.takenAtUs - d.offeredAtUs, droppedSinceLast: d.droppedSinceLast })) }),
    });
    const members = new Map<string, ModelMember>();
    const owners = new Map<string, string>(); // `${pool}/${stream}` -> owner, from the reported changes
    const known = new Set<string>();
    // Frames delivered, per pool: each pool of a stream takes a frame at most once.
    const delivered = new Set<string>();
    const lastOffered = new Map<string, number>();
    const skips = new Map<string, number>(); // `${member}/${stream}` -> times passed over in a row
    let nextId = 1;
    const servesModel = (m: ModelMember, s: string) => m.streams === 'all' || m.streams.has(s);

    for (const cmd of commands) {
      const before = scheduler.stats();
      opBatches = [];
      let changes: OwnershipChange[] = [];
      switch (cmd.op) {
        case 'join': {
          const memberId = MEMBERS[cmd.member];
          const { poolId, mode } = POOLS[cmd.pool];
          const request = { poolId, mode, memberId, streams: cmd.streams };
          if (members.has(memberId)) {
            expect(errorOf(() => scheduler.join(request))).toMatchObject({ problem: 'member-exists' });
            break;
          }
          const poolSize = [...members.values()].filter((m) => m.poolId === poolId).length;
          if (poolSize >= 4) {
            expect(errorOf(() => scheduler.join(request))).toMatchObject({ limit: 'poolMembers' });
            expect(scheduler.stats()).toEqual(before);
            break;
          }
          changes = scheduler.join(request);
          members.set(memberId, { poolId, streams: cmd.streams === 'all' ? 'all' : new Set(cmd.streams), credits: 0, framesTaken: 0 });
          break;
        }
        case 'leave':
          changes = scheduler.leave(MEMBERS[cmd.member]);
          members.delete(MEMBERS[cmd.member]);
          break;
        case 'offer': {
          const streamId = STREAMS[cmd.stream];
          const id = nextId++;
          lastOffered.set(streamId, id);
          scheduler.offer(streamId, { id, streamId });
          break;
        }
        case 'grant': {
          const memberId = MEMBERS[cmd.member];
          const m = members.get(memberId);
          if (m === undefined) {
            expect(errorOf(() => scheduler.grant(memberId, cmd.credits))).toMatchObject({ problem: 'unknown-member' });
            break;
          }
          m.credits = Math.min(MAX_CREDITS, m.credits + cmd.credits);
          scheduler.grant(memberId, cmd.credits);
          break;
        }
        case 'add':
          changes = scheduler.addStream(STREAMS[cmd.stream]);
          known.add(STREAMS[cmd.stream]);
          break;
        case 'remove':
          changes = scheduler.removeStream(STREAMS[cmd.stream]);
          known.delete(STREAMS[cmd.stream]);
          break;
        case 'tick':
          nowUs += cmd.us;
          break;
      }

      // Ownership changes are reported from the owner the model knows to the new one.
      for (const c of changes) {
        const key = `${c.poolId}/${c.streamId}`;
        expect(owners.get(key)).toBe(c.from);
        if (c.to === undefined) owners.delete(key);
        else owners.set(key, c.to);
      }

      // Deliveries: each frame once, the newest of its stream, to a member that serves it (sticky:
      // owns it) and had a credit; distinct streams per batch.
      for (const batch of opBatches) {
        const m = members.get(batch.memberId) as ModelMember;
        expect(m).toBeDefined();
        expect(batch.frames.length).toBeGreaterThan(0);
        expect(batch.frames.length).toBeLessThanOrEqual(m.credits);
        m.credits -= batch.frames.length;
        m.framesTaken += batch.frames.length;
        expect(new Set(batch.frames.map((f) => f.streamId)).size).toBe(batch.frames.length);
        for (const f of batch.frames) {
          expect(delivered.has(`${f.poolId}/${f.id}`)).toBe(false);
          delivered.add(`${f.poolId}/${f.id}`);
          expect(f.poolId).toBe(m.poolId);
          expect(f.id).toBe(lastOffered.get(f.streamId));
          expect(servesModel(m, f.streamId)).toBe(true);
          if (m.poolId === 'sticky-pool') expect(owners.get(`sticky-pool/${f.streamId}`)).toBe(batch.memberId);
          expect(f.ageUs).toBeGreaterThanOrEqual(0);
        }
      }

      const after = scheduler.stats();
      for (const pool of after) {
        const poolMembers = [...members.entries()].filter(([, m]) => m.poolId === pool.poolId);
        expect(pool.members.map((m) => m.memberId).sort()).toEqual(poolMembers.map(([id]) => id).sort());
        // The pool's streams: what its members list, and every known stream while one serves all.
        const expected = new Set<string>();
        for (const [, m] of poolMembers) for (const s of m.streams === 'all' ? known : m.streams) expected.add(s);
        expect(pool.streams.map((s) => s.streamId).sort()).toEqual([...expected].sort());
        const owned = new Map<string, number>();
        for (const s of pool.streams) {
          expect(s.published).toBe(s.taken + s.dropped + (s.pending ? 1 : 0));
          expect(s.members).toBe(poolMembers.filter(([, m]) => servesModel(m, s.streamId)).length);
          if (pool.mode === 'shared') {
            expect(s.owner).toBe('');
            continue;
          }
          // Sticky: exactly one owner, a current member that serves the stream, as reported.
          const owner = members.get(s.owner);
          expect(owner?.poolId).toBe(pool.poolId);
          expect(servesModel(owner as ModelMember, s.streamId)).toBe(true);
          expect(owners.get(`${pool.poolId}/${s.streamId}`)).toBe(s.owner);
          owned.set(s.owner, (owned.get(s.owner) ?? 0) + 1);
        }
        for (const m of pool.members) {
          const model = members.get(m.memberId) as ModelMember;
          expect(m.creditsOutstanding).toBe(model.credits);
          expect(m.framesTaken).toBe(model.framesTaken);
          expect(m.ownedStreams).toBe(owned.get(m.memberId) ?? 0);
          // Work conserving: a member holding a credit has nothing pending that it may take.
          if (m.creditsOutstanding > 0) {
            const takeable = pool.streams.filter((s) => s.pending && (pool.mode === 'sticky' ? s.owner === m.memberId : servesModel(model, s.streamId)));
            expect(takeable).toEqual([]);
          }
        }
        // Sticky balance: every member serving a stream owns at least its owner's count minus one.
        if (pool.mode === 'sticky') {
          const reported = [...owners.keys()].filter((k) => k.startsWith(`${pool.poolId}/`)).map((k) => k.slice(pool.poolId.length + 1));
          expect(reported.sort()).toEqual(pool.streams.map((s) => s.streamId).sort());
          for (const s of pool.streams) {
            for (const [id, m] of poolMembers) if (servesModel(m, s.streamId)) expect(owned.get(id) ?? 0).toBeGreaterThanOrEqual((owned.get(s.owner) ?? 0) - 1);
          }
        }
      }
      if (!after.some((p) => p.poolId === 'sticky-pool')) expect([...owners.keys()]).toEqual([]);
      expect(after.map((p) => p.poolId).sort()).toEqual([...new Set([...members.values()].map((m) => m.poolId))].sort());

      // No starvation: a stream that a member could take is passed over by that member's batches
      // fewer times in a row than the pool has streams.
      const pendingAfter = new Set(after.flatMap((p) => p.streams.filter((s) => s.pending).map((s) => `${p.poolId}/${s.streamId}`)));
      for (const [key] of skips) {
        const [memberId, poolStream] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
        if (!pendingAfter.has(poolStream) || !members.has(memberId)) skips.delete(key);
      }
      for (const batch of opBatches) {
        const m = members.get(batch.memberId) as ModelMember;
        const poolBefore = before.find((p) => p.poolId === m.poolId);
        const taken = new Set(batch.frames.map((f) => f.streamId));
        for (const s of poolBefore?.streams ?? []) {
          const key = `${batch.memberId}/${m.poolId}/${s.streamId}`;
          const couldTake = s.pending && (poolBefore?.mode === 'sticky' ? s.owner === batch.memberId : servesModel(m, s.streamId));
          if (taken.has(s.streamId) || !couldTake || !pendingAfter.has(`${m.poolId}/${s.streamId}`)) {
            skips.delete(key);
            continue;
          }
          const skipped = (skips.get(key) ?? 0) + 1;
          skips.set(key, skipped);
          // Each other stream can go first once (then it is behind), so (streams - 1) at most:
          // tighter than the bound of (streams) asked for.
          expect(skipped).toBeLessThanOrEqual((poolBefore?.streams.length ?? 0) - 1);
        }
      }
    }
  }

  it('delivers each frame at most once, to a member of its stream holding a credit; keeps owners, balance, fairness and counters', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 80 }), (commands) => check(commands)),
      { numRuns: 400 },
    );
  });

  it('passes over no stream more often than there are streams when every stream always has a frame', () => {
    // A denser case than random sequences give: one member of all streams that takes fewer frames
    // than are offered (every stream offered between most of its grants of one or two credits).
    const offerAll: Command[] = STREAMS.map((_, i) => ({ op: 'offer', stream: i }));
    const steps = fc.array(
      fc.oneof(
        { arbitrary: fc.constant<Command[]>([{ op: 'grant', member: 0, credits: 1 }]), weight: 3 },
        fc.constant<Command[]>([{ op: 'grant', member: 0, credits: 2 }]),
        { arbitrary: fc.constant(offerAll), weight: 3 },
        stream.map<Command[]>((i) => [{ op: 'offer', stream: i }]),
      ),
      { maxLength: 60 },
    );
    const setup: Command[] = [{ op: 'join', member: 0, pool: 0, streams: 'all' }, ...STREAMS.map((_, i) => ({ op: 'add' as const, stream: i }))];
    fc.assert(
      fc.property(steps, (commands) => check([...setup, ...commands.flat()])),
      { numRuns: 100 },
    );
  });
});
