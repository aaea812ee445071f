// FrameSupplier with pool members (injected clock, no transport): what the Pull loop sees of a
// member (batches, credits and their bound, frames read from shared memory, liveness), how members
// live with the supplier's worker identity rules, and how streams reach members of all streams.
import fc from 'fast-check';
import type { Frame } from '@framewire/proto';
import { errorOf, testFrame } from '@framewire/testing';
import { deliverFrames } from './deliver-frames';
import { InvalidRequestError, PoolMembershipError, SubscriptionEndedError, WorkerIdInUseError } from './errors';
import { FrameDelivery, FrameSupplier, FrameSupplierOptions, Subscription } from './frame-supplier';
import { OpenRingReader } from './shared-memory';

const LIMITS = { maxWorkers: 8, maxStreams: 4, maxFrameBytes: 1024, maxPoolCredits: 4 };

function supplierWithClock(options: Partial<FrameSupplierOptions> = {}) {
  const clock = { ms: 1_700_000_000_000 };
  const supplier = new FrameSupplier({ ...LIMITS, now: () => clock.ms, ...options });
  return { supplier, clock };
}

/** Everything the member has been handed and not yet sent, batch by batch. */
function drain(member: Subscription): FrameDelivery[][] {
  const batches: FrameDelivery[][] = [];
  for (let batch = member.takePoolBatch(); batch !== undefined; batch = member.takePoolBatch()) batches.push(batch.map((d) => ({ ...d })));
  return batches;
}

const frameKeys = (batches: FrameDelivery[][]) => batches.map((b) => b.map((d) => `${d.frame.streamId}#${d.frame.sequence}`));

describe('FrameSupplier pools', () => {
  it('hands a shared pool’s frame to one member only, with the pool named and send times set', () => {
    const { supplier, clock } = supplierWithClock();
    const a = supplier.subscribe({ workerId: 'a', streamId: 'cam-1', poolId: 'p' });
    const b = supplier.subscribe({ workerId: 'b', streamId: 'cam-1', poolId: 'p' });
    a.grantPool(1);
    b.grantPool(1);
    supplier.publish(testFrame('cam-1', 1));
    supplier.publish(testFrame('cam-1', 2));
    clock.ms += 2;
    const [fromA, fromB] = [drain(a), drain(b)];
    expect(frameKeys(fromA)).toEqual([['cam-1#1']]);
    expect(frameKeys(fromB)).toEqual([['cam-1#2']]);
    expect(fromA[0][0]).toMatchObject({ poolId: 'p', batchRemaining: 0, droppedSinceLast: 0, sentTimeUs: clock.ms * 1000 });
    // Neither holds a credit now: the next frame waits in the pool's slot, then replaces nothing until taken.
    supplier.publish(testFrame('cam-1', 3));
    supplier.publish(testFrame('cam-1', 4));
    b.grantPool(1);
    expect(frameKeys(drain(b))).toEqual([['cam-1#4']]);
    expect(supplier.stats().pools).toEqual([
      expect.objectContaining({ poolId: 'p', mode: 'shared', streams: [expect.objectContaining({ streamId: 'cam-1', published: 4, taken: 3, dropped: 1, members: 2 })] }),
    ]);
    // Pool members keep no broadcast mailbox: the stream counts no subscriber.
    expect(supplier.stats().streams[0]).toMatchObject({ streamId: 'cam-1', subscribers: 0 });
  });

  it('numbers a batch of distinct streams by batchRemaining, longest-waiting stream first', () => {
    const { supplier } = supplierWithClock();
    const m = supplier.subscribe({ workerId: 'm', streamId: '', streamIds: ['cam-1', 'cam-2', 'cam-3'], poolId: 'p' });
    supplier.publish(testFrame('cam-2', 1));
    supplier.publish(testFrame('cam-1', 1));
    supplier.publish(testFrame('cam-3', 1));
    m.grantPool(3);
    const batches = drain(m);
    expect(frameKeys(batches)).toEqual([['cam-2#1', 'cam-1#1', 'cam-3#1']]);
    expect(batches[0].map((d) => d.batchRemaining)).toEqual([2, 1, 0]);
    expect(supplier.stats().workers[0]).toMatchObject({ workerId: 'm', streamId: '', poolId: 'p', framesDelivered: 3, lastSequence: 1 });
  });

  it('holds at most maxPoolCredits for a member, counting frames handed to it and not yet sent', () => {
    const { supplier } = supplierWithClock();
    const m = supplier.subscribe({ workerId: 'm', streamId: 'cam-1', poolId: 'p' });
    m.grantPool(1_000);
    expect(supplier.stats().pools[0].members[0].creditsOutstanding).toBe(LIMITS.maxPoolCredits);
    for (let seq = 1; seq <= 3; seq++) supplier.publish(testFrame('cam-1', seq));
    // Three frames wait to be sent, one credit is left: granting more adds nothing until they are sent.
    m.grantPool(10);
    expect(supplier.stats().pools[0].members[0].creditsOutstanding).toBe(1);
    expect(drain(m).flat()).toHaveLength(3);
    m.grantPool(10);
    expect(supplier.stats().pools[0].members[0].creditsOutstanding).toBe(LIMITS.maxPoolCredits);
  });

  it('property: what a member has on the way (credits held + frames waiting) never exceeds maxPoolCredits', () => {
    const op = fc.oneof(
      fc.record({ op: fc.constant('grant' as const), k: fc.integer({ min: 1, max: 100 }) }),
      fc.record({ op: fc.constant('publish' as const), stream: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ op: fc.constant('send' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const { supplier } = supplierWithClock();
        const m = supplier.subscribe({ workerId: 'm', streamId: '', streamIds: ['s0', 's1', 's2'], poolId: 'p' });
        let waiting = 0;
        let sequence = 0;
        const seen = new Set<string>();
        for (const o of ops) {
          if (o.op === 'grant') m.grantPool(o.k);
          else if (o.op === 'publish') supplier.publish(testFrame(`s${o.stream}`, ++sequence));
          else {
            for (const d of drain(m).flat()) {
              const key = `${d.frame.streamId}#${d.frame.sequence}`;
              expect(seen.has(key)).toBe(false);
              seen.add(key);
            }
          }
          const member = supplier.stats().pools[0].members[0];
          const queued = member.framesTaken - m.framesDelivered;
          waiting = member.creditsOutstanding + queued;
          expect(waiting).toBeLessThanOrEqual(LIMITS.maxPoolCredits);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('reads the bytes of a shared-memory frame for a member that did not prove the ring, and gives the credit back when they are gone', () => {
    const token = 'cd'.repeat(16);
    let readable = true;
    const openRingReader: OpenRingReader = () => ({
      token,
      read: () => (readable ? { ok: true, data: Buffer.alloc(100, 7) } : { ok: false, reason: 'overwritten' }),
      writerStatus: () => 'alive',
      reattach: () => undefined,
      close: () => undefined,
    });
    const { supplier } = supplierWithClock({ openRingReader });
    const bytes = supplier.subscribe({ workerId: 'bytes', streamId: 'cam-1', poolId: 'p' });
    const shmRef = { ringName: 'fw-cam-1', slot: 0, slotSequence: 2, crc32: 0 };
    const referenced = (seq: number): Frame => ({ ...testFrame('cam-1', seq, 100), data: undefined, shmRef });
    bytes.grantPool(1);
    supplier.publish(referenced(1));
    const [first] = drain(bytes).flat();
    expect(first.frame.data?.equals(Buffer.alloc(100, 7))).toBe(true);
    expect(first.frame.shmRef).toBeUndefined();

    readable = false;
    bytes.grantPool(1);
    supplier.publish(referenced(2));
    expect(drain(bytes)).toEqual([]);
    expect(supplier.stats().workers[0]).toMatchObject({ dropsTotal: 1, framesDelivered: 1 });
    // The credit came back: the next frame goes to it at once.
    readable = true;
    supplier.publish(referenced(3));
    expect(frameKeys(drain(bytes))).toEqual([['cam-1#3']]);
  });

  it('sends references to a member that proved the ring', () => {
    const token = 'ef'.repeat(16);
    const openRingReader: OpenRingReader = () => ({ token, read: () => ({ ok: false, reason: 'overwritten' }), writerStatus: () => 'alive', reattach: () => undefined, close: () => undefined });
    const { supplier } = supplierWithClock({ openRingReader });
    const m = supplier.subscribe({ workerId: 'm', streamId: 'cam-1', poolId: 'p', preferSharedMemory: true, shmRingTokens: [token] });
    m.grantPool(1);
    supplier.publish({ ...testFrame('cam-1', 1, 100), data: undefined, shmRef: { ringName: 'fw-cam-1', slot: 0, slotSequence: 2, crc32: 0 } });
    expect(drain(m).flat()[0].frame).toMatchObject({ data: undefined, shmRef: { ringName: 'fw-cam-1' } });
    expect(supplier.stats().workers[0].sharedMemory).toBe(true);
  });

  it('moves a sticky member’s streams to the others when its subscription ends, and delivers to the new owner at once', () => {
    const { supplier } = supplierWithClock();
    const join = (workerId: string) => supplier.subscribe({ workerId, streamId: '', streamIds: ['cam-1', 'cam-2'], poolId: 's', poolMode: 'sticky' });
    const a = join('a');
    const b = join('b');
    const ownerOf = (streamId: string) => supplier.poolOwnerOf('s', streamId);
    expect(new Set([ownerOf('cam-1'), ownerOf('cam-2')])).toEqual(new Set(['a', 'b']));
    const ofA = ownerOf('cam-1') === 'a' ? 'cam-1' : 'cam-2';
    b.grantPool(1);
    supplier.publish(testFrame(ofA, 1));
    expect(drain(b)).toEqual([]);
    a.close();
    expect(ownerOf(ofA)).toBe('b');
    expect(frameKeys(drain(b))).toEqual([[`${ofA}#1`]]);
  });

  it('lets the same instance replace its membership at once, and refuses another instance while the member is live', () => {
    const { supplier, clock } = supplierWithClock({ holderSilenceMs: 1_000 });
    const first = supplier.subscribe({ workerId: 'm', streamId: 'cam-1', poolId: 'p', instanceId: 'key-1' });
    expect(errorOf(() => supplier.subscribe({ workerId: 'm', streamId: 'cam-1', poolId: 'p', instanceId: 'key-2' }))).toBeInstanceOf(WorkerIdInUseError);
    const second = supplier.subscribe({ workerId: 'm', streamId: 'cam-1', poolId: 'p', instanceId: 'key-1' });
    expect(first.endReason?.reason).toBe('replaced');
    expect(supplier.stats().pools[0].members.map((m) => m.workerId)).toEqual(['m']);
    // A member holding a credit and waiting for frames that do not come is live however long it waits.
    second.grantPool(1);
    clock.ms += 60_000;
    expect(errorOf(() => supplier.subscribe({ workerId: 'm', streamId: 'cam-1', poolId: 'p', instanceId: 'key-3' }))).toBeInstanceOf(WorkerIdInUseError);
    // Frames handed to it and never sent: it fell silent, and another instance may take the id.
    supplier.publish(testFrame('cam-1', 1));
    clock.ms += 1_001;
    const third = supplier.subscribe({ workerId: 'm', streamId: 'cam-1', poolId: 'p', instanceId: 'key-3' });
    expect(second.endReason?.reason).toBe('taken-over');
    expect(third.pool).toEqual({ poolId: 'p', mode: 'shared', streams: ['cam-1'] });
  });

  it('gives a member of all streams the streams that exist and the ones that appear later, and drops them with the stream', () => {
    const { supplier } = supplierWithClock();
    const publisher = supplier.openPublisher();
    publisher.publish(testFrame('cam-1', 1));
    const m = supplier.subscribe({ workerId: 'm', streamId: '', allStreams: true, poolId: 'all' });
    supplier.publish(testFrame('cam-2', 1));
    expect(supplier.stats().pools[0].streams.map((s) => s.streamId).sort()).toEqual(['cam-1', 'cam-2']);
    m.grantPool(2);
    publisher.publish(testFrame('cam-1', 2));
    // cam-2's frame waited in the pool's slot for a credit; cam-1's came later.
    expect(frameKeys(drain(m))).toEqual([['cam-2#1'], ['cam-1#2']]);
    publisher.close();
    expect(supplier.stats().pools[0].streams.map((s) => s.streamId)).toEqual(['cam-2']);
  });

  it('ends a member’s wait for a batch when the supplier stops, and the delivery loop resolves with why', async () => {
    const { supplier } = supplierWithClock();
    const m = supplier.subscribe({ workerId: 'm', streamId: 'cam-1', poolId: 'p' });
    const sent: FrameDelivery[] = [];
    const loop = deliverFrames(m, (d) => void sent.push({ ...d }));
    m.grantPool(2);
    supplier.publish(testFrame('cam-1', 1));
    await new Promise((r) => setImmediate(r));
    expect(sent.map((d) => d.frame.sequence)).toEqual([1]);
    supplier.close();
    expect(((await loop) as SubscriptionEndedError).reason).toBe('supplier-stopped');
    expect(supplier.stats().pools).toEqual([]);
  });

  describe('requests', () => {
    it.each([
      [{ streamIds: ['cam-2'] }, 'stream_ids', 'stream_ids needs a pool_id'],
      [{ allStreams: true }, 'all_streams', 'all_streams needs a pool_id'],
      [{ poolId: 'p q' }, 'pool_id', 'pool_id "p q" may hold only'],
      [{ poolId: 'p', allStreams: true }, 'all_streams', 'leave stream_id and stream_ids empty'],
      [{ poolId: 'p', streamId: '' }, 'stream_ids', 'set stream_id, stream_ids or all_streams'],
      [{ poolId: 'p', streamIds: ['ok', 'not ok'] }, 'stream_ids', 'stream_ids "not ok"'],
      [{ poolId: 'p', streamIds: ['a', 'b', 'c', 'd', 'e'] }, 'stream_ids', 'stream_ids lists 5 streams, more than the supplier’s 4'.replace('’', "'")],
      [{ poolId: 'p', poolMode: 'round-robin' as never }, 'pool_mode', 'pool_mode "round-robin" is not one of shared, sticky'],
    ])('refuses %j naming %s', (fields, field, message) => {
      const { supplier } = supplierWithClock();
      const err = errorOf(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', ...fields })) as InvalidRequestError;
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect(err.field).toBe(field);
      expect(err.message).toContain(message);
      expect(supplier.stats().workers).toEqual([]);
    });

    it('refuses a mode other than the pool’s with PoolMembershipError naming pool_mode, leaving the pool as it was', () => {
      const { supplier } = supplierWithClock();
      supplier.subscribe({ workerId: 'a', streamId: 'cam-1', poolId: 'p' });
      const err = errorOf(() => supplier.subscribe({ workerId: 'b', streamId: 'cam-1', poolId: 'p', poolMode: 'sticky' }));
      expect(err).toBeInstanceOf(PoolMembershipError);
      expect(err).toMatchObject({ field: 'pool_mode' });
      expect(supplier.stats().workers.map((w) => w.workerId)).toEqual(['a']);
    });
  });
});
