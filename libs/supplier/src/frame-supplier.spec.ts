import fc from 'fast-check';
import type { Frame } from '@framewire/proto';
import { SubscriptionRefusal } from '@framewire/proto';
import { InvalidRequestError, SubscriptionEndedError, SupplierLimitError, SupplierStoppedError, WorkerIdInUseError } from './errors';
import { FrameSupplier, FrameSupplierOptions, Subscription } from './frame-supplier';
import { MAX_REFUSAL_RECORDS, RefusalLog } from './refusals';
import { callerOf, DEFAULT_HOLDER_SILENCE_MS } from './worker-identity';
import { errorOf, testFrame } from '@framewire/testing';

const LIMITS = { maxWorkers: 4, maxStreams: 2, maxFrameBytes: 1024 };

function supplierWithClock(options: Partial<FrameSupplierOptions> = {}) {
  const clock = { ms: 1_700_000_000_000 };
  const supplier = new FrameSupplier({ ...LIMITS, now: () => clock.ms, ...options });
  return { supplier, clock };
}


describe('FrameSupplier', () => {
  describe('publish and fan-out', () => {
    it('delivers a published frame to every worker of its stream, as the same object', () => {
      const { supplier } = supplierWithClock();
      const a = supplier.subscribe({ workerId: 'a', streamId: 'cam-1' });
      const b = supplier.subscribe({ workerId: 'b', streamId: 'cam-1' });
      const other = supplier.subscribe({ workerId: 'c', streamId: 'cam-2' });
      const frame = testFrame('cam-1', 1);
      supplier.publish(frame);
      expect(a.takeDelivery()?.frame).toBe(frame);
      expect(b.takeDelivery()?.frame).toBe(frame);
      expect(other.takeDelivery()).toBeUndefined();
    });

    it('drops the older frame when a worker is slow', () => {
      const { supplier } = supplierWithClock();
      const slow = supplier.subscribe({ workerId: 'slow', streamId: 'cam-1' });
      for (let seq = 1; seq <= 5; seq++) supplier.publish(testFrame('cam-1', seq));
      const delivery = slow.takeDelivery();
      expect(delivery?.frame.sequence).toBe(5);
      expect(delivery?.droppedSinceLast).toBe(4);
      expect(supplier.stats().workers[0]).toMatchObject({ workerId: 'slow', dropsTotal: 4, dropsConsecutive: 0, framesDelivered: 1, lastSequence: 5 });
    });

    it('a slow worker never affects a fast one', () => {
      const { supplier } = supplierWithClock();
      const fast = supplier.subscribe({ workerId: 'fast', streamId: 'cam-1' });
      const slow = supplier.subscribe({ workerId: 'slow', streamId: 'cam-1' });
      const fastSeen: number[] = [];
      for (let seq = 1; seq <= 100; seq++) {
        supplier.publish(testFrame('cam-1', seq));
        fastSeen.push(fast.takeDelivery()?.frame.sequence ?? -1);
        if (seq % 10 === 0) slow.takeDelivery();
      }
      expect(fastSeen).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      const stats = supplier.stats().workers;
      expect(stats.find((w) => w.workerId === 'fast')).toMatchObject({ dropsTotal: 0, framesDelivered: 100 });
      expect(stats.find((w) => w.workerId === 'slow')).toMatchObject({ dropsTotal: 90, framesDelivered: 10 });
    });

    it('keeps inbox drops at 0 because fan-out is synchronous', () => {
      const { supplier } = supplierWithClock();
      const publisher = supplier.openPublisher();
      for (let seq = 1; seq <= 10; seq++) publisher.publish(testFrame('cam-1', seq));
      expect(publisher.inboxDrops).toBe(0);
      expect(publisher.framesReceived).toBe(10);
      expect(supplier.stats().streams[0]).toMatchObject({ streamId: 'cam-1', framesPublished: 10, inboxDrops: 0, lastSequence: 10 });
    });

    it('gives a new subscription only frames published after it subscribed', () => {
      const { supplier } = supplierWithClock();
      supplier.publish(testFrame('cam-1', 1));
      const late = supplier.subscribe({ workerId: 'late', streamId: 'cam-1' });
      expect(late.takeDelivery()).toBeUndefined();
      supplier.publish(testFrame('cam-1', 2));
      expect(late.takeDelivery()?.frame.sequence).toBe(2);
    });

    it('wakes a waiting worker when a frame arrives', async () => {
      const { supplier } = supplierWithClock();
      const worker = supplier.subscribe({ workerId: 'w', streamId: 'cam-1' });
      const waiting = worker.waitForFrame();
      supplier.publish(testFrame('cam-1', 1));
      await waiting;
      expect(worker.takeDelivery()?.frame.sequence).toBe(1);
    });

    it('accounts for every frame of every worker: delivered + dropped + pending = published since subscribing', () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(2)), { maxLength: 200 }), (steps) => {
          const { supplier } = supplierWithClock({ maxWorkers: 3 });
          const workers = [0, 1, 2].map((i) => supplier.subscribe({ workerId: `w${i}`, streamId: 'cam-1' }));
          const lastSeen = [0, 0, 0];
          let seq = 0;
          for (const [publish, worker] of steps) {
            if (publish) supplier.publish(testFrame('cam-1', ++seq));
            else {
              const d = workers[worker].takeDelivery();
              if (d !== undefined) {
                expect(d.frame.sequence).toBe(seq); // always the newest
                expect(d.frame.sequence).toBeGreaterThan(lastSeen[worker]);
                expect(d.droppedSinceLast).toBe(d.frame.sequence - lastSeen[worker] - 1);
                lastSeen[worker] = d.frame.sequence;
              }
            }
          }
          for (const w of workers) {
            expect(w.framesDelivered + w.mailbox.dropsTotal + (w.mailbox.hasValue ? 1 : 0)).toBe(seq);
          }
        }),
      );
    });
  });

  describe('streams and publishers', () => {
    it('removes a stream when its last publisher leaves and no worker is subscribed', () => {
      const { supplier } = supplierWithClock();
      const p1 = supplier.openPublisher();
      const p2 = supplier.openPublisher();
      p1.publish(testFrame('cam-1', 1));
      p2.publish(testFrame('cam-1', 2));
      p1.close();
      expect(supplier.stats().streams).toMatchObject([{ streamId: 'cam-1', publishers: 1, active: true }]);
      p2.close();
      expect(supplier.stats().streams).toEqual([]);
    });

    it('keeps workers subscribed, and lists the stream inactive, when the last publisher leaves', async () => {
      const { supplier } = supplierWithClock();
      const worker = supplier.subscribe({ workerId: 'w', streamId: 'cam-1' });
      const first = supplier.openPublisher();
      first.publish(testFrame('cam-1', 1));
      first.close();
      expect(supplier.stats().streams).toMatchObject([{ streamId: 'cam-1', active: false, publishers: 0, subscribers: 1 }]);
      expect(worker.takeDelivery()?.frame.sequence).toBe(1);
      const waiting = worker.waitForFrame();
      const second = supplier.openPublisher();
      second.publish(testFrame('cam-1', 1)); // a new capture session starts again at 1
      await waiting;
      expect(worker.takeDelivery()?.frame.sequence).toBe(1);
      expect(supplier.stats().streams[0].active).toBe(true);
    });

    it('lets a worker subscribe before any publisher, and removes the stream when it leaves', () => {
      const { supplier } = supplierWithClock();
      const worker = supplier.subscribe({ workerId: 'w', streamId: 'cam-9' });
      expect(supplier.stats().streams).toMatchObject([{ streamId: 'cam-9', active: false }]);
      worker.close();
      expect(supplier.stats()).toEqual({ streams: [], workers: [], refused: [], pools: [] });
    });

    it('lets one publisher feed several streams', () => {
      const { supplier } = supplierWithClock();
      const p = supplier.openPublisher();
      p.publish(testFrame('cam-1', 1));
      p.publish(testFrame('cam-2', 1));
      p.publish(testFrame('cam-1', 2));
      expect(supplier.stats().streams.map((s) => [s.streamId, s.framesPublished, s.publishers])).toEqual([
        ['cam-1', 2, 1],
        ['cam-2', 1, 1],
      ]);
      p.close();
      expect(supplier.stats().streams).toEqual([]);
    });

    it('measures the publish rate over a sliding window', () => {
      const { supplier, clock } = supplierWithClock({ rateWindowMs: 5_000 });
      for (let i = 1; i <= 300; i++) {
        supplier.publish(testFrame('cam-1', i));
        clock.ms += 100; // 10 fps for 30 s
      }
      expect(supplier.stats().streams[0].publishRateFps).toBeCloseTo(10, 0);
      clock.ms += 10_000;
      expect(supplier.stats().streams[0].publishRateFps).toBe(0);
    });
  });

  describe('worker statistics', () => {
    it('reports the age of the last frame at delivery and the delivery time', () => {
      const { supplier, clock } = supplierWithClock();
      const w = supplier.subscribe({ workerId: 'w', streamId: 'cam-1' });
      supplier.publish(testFrame('cam-1', 7, 16, clock.ms * 1000));
      clock.ms += 25;
      const d = w.takeDelivery();
      expect(d?.sentTimeUs).toBe(clock.ms * 1000);
      expect(supplier.stats().workers[0]).toMatchObject({ lastSequence: 7, lastDeliveryTimeUs: clock.ms * 1000, lastDeliveryAgeUs: 25_000 });
    });

    it('reports a worker idle after it took nothing for the idle threshold', () => {
      const { supplier, clock } = supplierWithClock({ idleAfterMs: 1_000 });
      const w = supplier.subscribe({ workerId: 'w', streamId: 'cam-1' });
      clock.ms += 999;
      expect(supplier.stats().workers[0].idle).toBe(false);
      clock.ms += 2;
      expect(supplier.stats().workers[0].idle).toBe(true);
      supplier.publish(testFrame('cam-1', 1));
      w.takeDelivery();
      expect(supplier.stats().workers[0].idle).toBe(false);
      clock.ms += 1_001;
      expect(supplier.stats().workers[0].idle).toBe(true);
    });

    it('counts consecutive drops until the worker takes a frame', () => {
      const { supplier } = supplierWithClock();
      const w = supplier.subscribe({ workerId: 'w', streamId: 'cam-1' });
      for (let seq = 1; seq <= 4; seq++) supplier.publish(testFrame('cam-1', seq));
      expect(supplier.stats().workers[0]).toMatchObject({ dropsConsecutive: 3, dropsTotal: 3 });
      w.takeDelivery();
      expect(supplier.stats().workers[0]).toMatchObject({ dropsConsecutive: 0, dropsTotal: 3 });
    });
  });

  describe('duplicate worker ids', () => {
    it('replaces the older subscription of the same instance at once, whose wait ends with reason "replaced"', async () => {
      const { supplier } = supplierWithClock();
      const first = supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'key-a' });
      const waiting = first.waitForFrame();
      const second = supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'key-a' });
      const err = (await waiting.catch((e: unknown) => e)) as SubscriptionEndedError;
      expect(err).toBeInstanceOf(SubscriptionEndedError);
      expect(err.reason).toBe('replaced');
      expect(err.message).toContain('"w"');
      expect(first.signal.aborted).toBe(true);
      supplier.publish(testFrame('cam-1', 1));
      expect(first.takeDelivery()).toBeUndefined();
      expect(second.takeDelivery()?.frame.sequence).toBe(1);
      expect(supplier.stats().workers).toHaveLength(1);
      expect(supplier.subscriptionOf('w')).toBe(second);
    });

    it('closing the replaced subscription leaves the new one alone', () => {
      const { supplier } = supplierWithClock();
      const first = supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'key-a' });
      const second = supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'key-a' });
      first.close();
      expect(supplier.subscriptionOf('w')).toBe(second);
      expect(supplier.stats().streams[0].subscribers).toBe(1);
    });

    it('lets a replacing worker move to another stream and frees the old one', () => {
      const { supplier } = supplierWithClock();
      supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'key-a' });
      supplier.subscribe({ workerId: 'w', streamId: 'cam-2', instanceId: 'key-a' });
      expect(supplier.stats().streams.map((s) => s.streamId)).toEqual(['cam-2']);
    });

    it('does not count the replaced subscription against the worker limit', () => {
      const { supplier } = supplierWithClock({ maxWorkers: 1 });
      supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'key-a' });
      expect(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'key-a' })).not.toThrow();
    });
  });

  describe('worker identity: who may hold a worker id (injected clock)', () => {
    const SILENCE = DEFAULT_HOLDER_SILENCE_MS;

    /** The holder takes every frame as it comes, for `ms`, one frame per 100 ms. */
    function work(supplier: FrameSupplier, clock: { ms: number }, holder: Subscription, ms: number, sequence: { n: number }) {
      for (let t = 0; t < ms; t += 100) {
        clock.ms += 100;
        supplier.publish(testFrame('cam-1', ++sequence.n));
        holder.takeDelivery();
      }
    }

    it('refuses a second instance while the holder is live, naming the id; the holder keeps its frames', () => {
      const { supplier, clock } = supplierWithClock();
      const holder = supplier.subscribe({ workerId: 'worker-1', streamId: 'cam-1', instanceId: 'real', caller: '10.0.0.5' });
      const sequence = { n: 0 };
      for (let attempt = 0; attempt < 50; attempt++) {
        work(supplier, clock, holder, 1_000, sequence);
        for (const instanceId of ['stranger', '', undefined]) {
          const err = errorOf(() => supplier.subscribe({ workerId: 'worker-1', streamId: 'cam-1', instanceId, caller: '10.0.0.9' }));
          expect(err).toBeInstanceOf(WorkerIdInUseError);
          expect(err.message).toBe(`worker_id "worker-1" is held by another live instance (another instance_id); it can be taken once its holder has been silent for ${SILENCE} ms`);
        }
      }
      expect(holder.endReason).toBeUndefined();
      expect(supplier.subscriptionOf('worker-1')).toBe(holder);
      expect(holder.framesDelivered).toBe(sequence.n);
      expect(supplier.stats().refused).toEqual([
        {
          workerId: 'worker-1',
          reason: SubscriptionRefusal.SUBSCRIPTION_REFUSAL_ID_IN_USE,
          count: 150,
          lastRefusedTimeUs: clock.ms * 1000,
          streamId: 'cam-1',
          caller: '10.0.0.9',
          message: expect.stringContaining('"worker-1" is held by another live instance'),
        },
      ]);
    });

    it('never treats two empty instance ids as the same instance', () => {
      const { supplier } = supplierWithClock();
      supplier.subscribe({ workerId: 'w', streamId: 'cam-1' });
      expect(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1' })).toThrow(WorkerIdInUseError);
      expect(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: '' })).toThrow(WorkerIdInUseError);
    });

    it('keeps a holder that waits for a frame that has not come live however long it waits', () => {
      const { supplier, clock } = supplierWithClock();
      const holder = supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'real' });
      clock.ms += 3_600_000;
      expect(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'stranger' })).toThrow(WorkerIdInUseError);
      // Its camera comes back and it takes the frame: still its id.
      supplier.publish(testFrame('cam-1', 1));
      expect(holder.takeDelivery()?.frame.sequence).toBe(1);
      expect(supplier.subscriptionOf('w')).toBe(holder);
    });

    it('keeps a holder that grants credits live while it has frames to take', () => {
      const { supplier, clock } = supplierWithClock();
      const holder = supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'real' });
      supplier.publish(testFrame('cam-1', 1));
      clock.ms += SILENCE - 1;
      holder.markActive();
      clock.ms += SILENCE;
      expect(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'stranger' })).toThrow(WorkerIdInUseError);
    });

    it('gives the id of a holder silent past the bound (a half-open call) to a restarted instance, ending the old one as taken over', () => {
      const { supplier, clock } = supplierWithClock();
      const halfOpen = supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'before-restart' });
      supplier.publish(testFrame('cam-1', 1));
      halfOpen.takeDelivery();
      // Frames keep coming; the old call takes none of them.
      supplier.publish(testFrame('cam-1', 2));
      clock.ms += SILENCE;
      supplier.publish(testFrame('cam-1', 3));
      expect(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'after-restart' })).toThrow(WorkerIdInUseError);
      clock.ms += 1;
      const restarted = supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'after-restart' });
      expect(supplier.subscriptionOf('w')).toBe(restarted);
      expect(halfOpen.endReason?.reason).toBe('taken-over');
      expect(halfOpen.signal.aborted).toBe(true);
      expect(halfOpen.endReason?.message).toBe(
        'worker "w" was taken over by another instance after this subscription stayed silent (no frame taken, no credit granted)',
      );
      supplier.publish(testFrame('cam-1', 4));
      expect(restarted.takeDelivery()?.frame.sequence).toBe(4);
      expect(supplier.stats().workers).toHaveLength(1);
    });

    it('gives a stranger who took a silent id nothing to keep: the real worker gets it back once the stranger falls silent', () => {
      const { supplier, clock } = supplierWithClock();
      const stranger = supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'stranger' });
      supplier.publish(testFrame('cam-1', 1)); // the stranger takes nothing
      expect(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'real' })).toThrow(WorkerIdInUseError);
      clock.ms += SILENCE + 1;
      const real = supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'real' });
      expect(stranger.endReason?.reason).toBe('taken-over');
      expect(supplier.subscriptionOf('w')).toBe(real);
    });

    it('honours a holder silence bound set in the options', () => {
      const { supplier, clock } = supplierWithClock({ holderSilenceMs: 500 });
      supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'a' });
      supplier.publish(testFrame('cam-1', 1));
      clock.ms += 501;
      expect(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId: 'b' })).not.toThrow();
    });

    it.each([
      ['x'.repeat(129), 'instance_id has 129 characters; at most 128 are allowed'],
      ['with space', 'instance_id may hold only printable ASCII characters (no spaces)'],
      ['tab\there', 'instance_id may hold only printable ASCII characters (no spaces)'],
    ])('rejects the instance id %j naming the field, never its value', (instanceId, message) => {
      const { supplier } = supplierWithClock();
      const err = errorOf(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', instanceId })) as InvalidRequestError;
      expect(err).toMatchObject({ field: 'instance_id', message });
      expect(supplier.stats().refused).toEqual([]);
    });
  });

  describe('worker slots: reserve and per-caller limit', () => {
    it('keeps slots for reserved workers that workers who are not reserved cannot take', () => {
      const { supplier } = supplierWithClock({ maxWorkers: 4, reservedWorkers: ['worker-1', 'worker-2'] });
      supplier.subscribe({ workerId: 'a', streamId: 's' });
      supplier.subscribe({ workerId: 'b', streamId: 's' });
      const err = errorOf(() => supplier.subscribe({ workerId: 'c', streamId: 's' })) as SupplierLimitError;
      expect(err).toMatchObject({ limit: 'workers', value: 3, max: 2 });
      expect(err.message).toBe('worker "c" would exceed the limit of 2 workers that are not reserved (2 of 4 slots are kept for FW_SUPPLIER_RESERVED_WORKERS)');
      expect(() => supplier.subscribe({ workerId: 'worker-1', streamId: 's' })).not.toThrow();
      expect(() => supplier.subscribe({ workerId: 'worker-2', streamId: 's' })).not.toThrow();
      expect(supplier.stats().refused).toMatchObject([{ workerId: 'c', reason: SubscriptionRefusal.SUBSCRIPTION_REFUSAL_WORKER_LIMIT, count: 1 }]);
    });

    it('lets a restarted reserved worker in while one caller holds every other slot (63 of 64)', () => {
      const { supplier } = supplierWithClock({ maxWorkers: 64, maxWorkersPerCaller: 64, reservedWorkers: ['worker-1'] });
      for (let i = 0; i < 63; i++) supplier.subscribe({ workerId: `hog-${i}`, streamId: 's', caller: '10.0.0.66' });
      expect(() => supplier.subscribe({ workerId: 'hog-63', streamId: 's', caller: '10.0.0.66' })).toThrow(SupplierLimitError);
      expect(() => supplier.subscribe({ workerId: 'worker-1', streamId: 's', caller: '10.0.0.5' })).not.toThrow();
    });

    it('reserves ids by prefix for scaled replicas, as many as reservedSlots', () => {
      const { supplier } = supplierWithClock({ maxWorkers: 4, reservedWorkers: ['worker-*'], reservedSlots: 2 });
      supplier.subscribe({ workerId: 'a', streamId: 's' });
      supplier.subscribe({ workerId: 'b', streamId: 's' });
      expect(() => supplier.subscribe({ workerId: 'c', streamId: 's' })).toThrow(SupplierLimitError);
      supplier.subscribe({ workerId: 'worker-3f2a9c', streamId: 's' });
      supplier.subscribe({ workerId: 'worker-77b0e1', streamId: 's' });
      expect(errorOf(() => supplier.subscribe({ workerId: 'worker-9', streamId: 's' }))).toMatchObject({ limit: 'workers', max: 4 });
    });

    it('limits the subscriptions of one caller; exact reserved ids do not count, and a slot freed is free again', () => {
      const { supplier } = supplierWithClock({ maxWorkers: 16, maxWorkersPerCaller: 2, reservedWorkers: ['worker-1', 'fleet-*'], reservedSlots: 2 });
      const first = supplier.subscribe({ workerId: 'a', streamId: 's', caller: '10.0.0.66' });
      supplier.subscribe({ workerId: 'b', streamId: 's', caller: '10.0.0.66' });
      const err = errorOf(() => supplier.subscribe({ workerId: 'c', streamId: 's', caller: '10.0.0.66' })) as SupplierLimitError;
      expect(err).toMatchObject({ limit: 'workersPerCaller', value: 3, max: 2 });
      expect(err.message).toBe('worker "c" would exceed the limit of 2 workers per caller (10.0.0.66 holds 2)');
      // A prefix can multiply, so it counts; an exact id cannot.
      expect(errorOf(() => supplier.subscribe({ workerId: 'fleet-1', streamId: 's', caller: '10.0.0.66' }))).toMatchObject({ limit: 'workersPerCaller' });
      expect(() => supplier.subscribe({ workerId: 'worker-1', streamId: 's', caller: '10.0.0.66' })).not.toThrow();
      expect(() => supplier.subscribe({ workerId: 'c', streamId: 's', caller: '10.0.0.7' })).not.toThrow();
      first.close();
      expect(() => supplier.subscribe({ workerId: 'd', streamId: 's', caller: '10.0.0.66' })).not.toThrow();
      expect(supplier.stats().refused).toMatchObject([
        { workerId: 'c', reason: SubscriptionRefusal.SUBSCRIPTION_REFUSAL_CALLER_LIMIT, caller: '10.0.0.66' },
        { workerId: 'fleet-1', reason: SubscriptionRefusal.SUBSCRIPTION_REFUSAL_CALLER_LIMIT },
      ]);
    });

    it('counts a reconnecting instance once against its caller and the pool', () => {
      const { supplier } = supplierWithClock({ maxWorkers: 2, maxWorkersPerCaller: 1 });
      supplier.subscribe({ workerId: 'w', streamId: 's', instanceId: 'k', caller: '10.0.0.5' });
      for (let i = 0; i < 5; i++) supplier.subscribe({ workerId: 'w', streamId: 's', instanceId: 'k', caller: '10.0.0.5' });
      expect(() => supplier.subscribe({ workerId: 'x', streamId: 's', caller: '10.0.0.6' })).not.toThrow();
    });

    it('counts a refused stream as a refusal of the worker that asked for it', () => {
      const { supplier } = supplierWithClock({ maxStreams: 1 });
      supplier.subscribe({ workerId: 'a', streamId: 'cam-1' });
      expect(errorOf(() => supplier.subscribe({ workerId: 'b', streamId: 'cam-2' }))).toMatchObject({ limit: 'streams' });
      expect(supplier.stats().refused).toMatchObject([{ workerId: 'b', reason: SubscriptionRefusal.SUBSCRIPTION_REFUSAL_STREAM_LIMIT, streamId: 'cam-2' }]);
    });

    it('refuses a reserve as large as the pool, at construction and at run time', () => {
      expect(() => supplierWithClock({ maxWorkers: 2, reservedWorkers: ['a', 'b'] })).toThrow('reservedSlots must be a whole number from 0 to maxWorkers - 1 = 1 (got 2)');
      const { supplier } = supplierWithClock({ maxWorkers: 4, reservedWorkers: ['a', 'b'] });
      expect(errorOf(() => supplier.setLimits({ maxWorkers: 2 }))).toMatchObject({ field: 'maxWorkers' });
      expect(supplier.setLimits({ maxWorkers: 3 }).maxWorkers).toBe(3);
    });
  });

  describe('limits', () => {
    it('refuses a worker beyond maxWorkers, naming the limit and the value', () => {
      const { supplier } = supplierWithClock({ maxWorkers: 2 });
      supplier.subscribe({ workerId: 'a', streamId: 's' });
      supplier.subscribe({ workerId: 'b', streamId: 's' });
      const err = errorOf(() => supplier.subscribe({ workerId: 'c', streamId: 's' })) as SupplierLimitError;
      expect(err).toBeInstanceOf(SupplierLimitError);
      expect(err).toMatchObject({ limit: 'workers', value: 3, max: 2 });
      expect(err.message).toBe('worker "c" would exceed the limit of 2 workers');
    });

    it('refuses a stream beyond maxStreams, from a publisher or a worker', () => {
      const { supplier } = supplierWithClock({ maxStreams: 1 });
      supplier.publish(testFrame('cam-1', 1));
      expect(errorOf(() => supplier.publish(testFrame('cam-2', 1)))).toMatchObject({ limit: 'streams', value: 2, max: 1 });
      expect(errorOf(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-3' }))).toMatchObject({ limit: 'streams' });
    });

    it('refuses a frame larger than maxFrameBytes', () => {
      const { supplier } = supplierWithClock({ maxFrameBytes: 1024 });
      const err = errorOf(() => supplier.publish(testFrame('cam-1', 3, 1025))) as SupplierLimitError;
      expect(err).toMatchObject({ limit: 'frameBytes', value: 1025, max: 1024 });
      expect(err.message).toContain('exceeds the 1024-byte limit');
      expect(supplier.stats().streams).toEqual([]);
    });

    it('a refused frame leaves other streams and workers as they were', () => {
      const { supplier } = supplierWithClock();
      const w = supplier.subscribe({ workerId: 'w', streamId: 'cam-1' });
      expect(() => supplier.publish(testFrame('cam-1', 0))).toThrow(InvalidRequestError);
      supplier.publish(testFrame('cam-1', 1));
      expect(w.takeDelivery()?.frame.sequence).toBe(1);
    });
  });

  describe('validation', () => {
    const cases: [string, Frame | undefined, string, string][] = [
      ['a missing frame', undefined, 'frame', 'frame is missing'],
      ['an empty stream id', testFrame('', 1), 'frame.stream_id', 'frame.stream_id is empty'],
      ['a zero sequence', testFrame('cam-1', 0), 'frame.sequence', 'frame.sequence is 0; sequences start at 1'],
      ['a size mismatch', { ...testFrame('cam-1', 1, 10), sizeBytes: 11 }, 'frame.size_bytes', 'frame.size_bytes is 11 but frame.data holds 10 bytes'],
      ['no payload', { ...testFrame('cam-1', 1), data: undefined }, 'frame.data', 'frame carries no payload: frame.data and frame.shm_ref are both unset'],
      ['a stream id with spaces', testFrame('cam 1', 1), 'frame.stream_id', `frame.stream_id "cam 1" may hold only letters, digits, '.', '_', ':' and '-'`],
    ];
    it.each(cases)('rejects %s, naming the field', (_name, frame, field, message) => {
      const { supplier } = supplierWithClock();
      const err = errorOf(() => supplier.openPublisher().publish(frame)) as InvalidRequestError;
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect(err.field).toBe(field);
      expect(err.message).toBe(message);
    });

    it('accepts a frame whose bytes are in shared memory', () => {
      const token = 'ab'.repeat(16);
      const { supplier } = supplierWithClock({ openRingReader: () => ({ token, read: () => ({ ok: false, reason: 'overwritten' }), writerStatus: () => 'alive', reattach: () => undefined, close: () => undefined }) });
      const w = supplier.subscribe({ workerId: 'w', streamId: 'cam-1', preferSharedMemory: true, shmRingTokens: [token] });
      supplier.publish({ ...testFrame('cam-1', 1, 100), data: undefined, shmRef: { ringName: 'fw-cam-1', slot: 0, slotSequence: 2, crc32: 0 } });
      w.takeDelivery();
      expect(supplier.stats().workers[0].sharedMemory).toBe(true);
    });

    it.each([
      ['', 'worker_id is empty'],
      ['x'.repeat(65), 'worker_id has 65 characters; at most 64 are allowed'],
      ['motion/1', `worker_id "motion/1" may hold only letters, digits, '.', '_', ':' and '-'`],
    ])('rejects worker id %j', (workerId, message) => {
      const { supplier } = supplierWithClock();
      const err = errorOf(() => supplier.subscribe({ workerId, streamId: 'cam-1' })) as InvalidRequestError;
      expect(err).toMatchObject({ field: 'worker_id', message });
    });

    it('accepts a 64-character worker id and rejects an empty stream id', () => {
      const { supplier } = supplierWithClock();
      expect(() => supplier.subscribe({ workerId: 'w'.repeat(64), streamId: 'cam-1' })).not.toThrow();
      expect(errorOf(() => supplier.subscribe({ workerId: 'w', streamId: '' }))).toMatchObject({ field: 'stream_id', message: 'stream_id is empty' });
    });
  });

  describe('close', () => {
    it('ends every subscription with reason "supplier-stopped" and refuses new work', async () => {
      const { supplier } = supplierWithClock();
      const w = supplier.subscribe({ workerId: 'w', streamId: 'cam-1' });
      const waiting = w.waitForFrame().catch((e: SubscriptionEndedError) => e.reason);
      supplier.close();
      expect(await waiting).toBe('supplier-stopped');
      expect(() => supplier.subscribe({ workerId: 'x', streamId: 'cam-1' })).toThrow(SupplierStoppedError);
      expect(() => supplier.publish(testFrame('cam-1', 1))).toThrow(SupplierStoppedError);
      expect(supplier.stats().workers).toEqual([]);
    });
  });
});

describe('RefusalLog', () => {
  it('keeps the most recently refused entries, counting repeats', () => {
    const log = new RefusalLog();
    const refusal = (workerId: string, atMs: number) => ({ workerId, reason: 'id-in-use' as const, lastRefusedAtMs: atMs, streamId: 's', caller: '', message: 'm' });
    for (let i = 0; i < MAX_REFUSAL_RECORDS + 44; i++) log.record(refusal(`w${i}`, i));
    log.record(refusal('w50', 1_000));
    const list = log.list();
    expect(list).toHaveLength(MAX_REFUSAL_RECORDS);
    expect(list[0].workerId).toBe('w44');
    expect(list.at(-1)).toMatchObject({ workerId: 'w50', count: 2, lastRefusedAtMs: 1_000 });
  });
});

describe('callerOf', () => {
  it.each([
    ['127.0.0.1:50312', '127.0.0.1'],
    ['::ffff:10.0.0.7:4431', '10.0.0.7'],
    ['::1:5000', '::1'],
    ['[fe80::1]:80', 'fe80::1'],
    ['unknown', 'unknown'],
  ])('%s -> %s', (peer, caller) => expect(callerOf(peer)).toBe(caller));
});

describe('FrameSupplier.setLimits', () => {
  it('applies a new worker limit to new subscriptions only', () => {
    const supplier = new FrameSupplier({ maxWorkers: 2, maxStreams: 4, maxFrameBytes: 1024 });
    const a = supplier.subscribe({ workerId: 'a', streamId: 's' });
    const b = supplier.subscribe({ workerId: 'b', streamId: 's' });
    expect(supplier.setLimits({ maxWorkers: 1 })).toEqual({ maxWorkers: 1, maxStreams: 4, idleAfterMs: 30_000 });
    expect(() => supplier.subscribe({ workerId: 'c', streamId: 's' })).toThrow(SupplierLimitError);
    // Existing subscriptions go on receiving frames.
    supplier.publish(testFrame('s', 1));
    expect([a.takeDelivery()?.frame.sequence, b.takeDelivery()?.frame.sequence]).toEqual([1, 1]);
    expect(supplier.stats().workers).toHaveLength(2);
    supplier.setLimits({ maxWorkers: 3 });
    expect(() => supplier.subscribe({ workerId: 'c', streamId: 's' })).not.toThrow();
    supplier.close();
  });

  it('changes the idle threshold and the stream limit, and refuses bad values naming the field', () => {
    let now = 0;
    const supplier = new FrameSupplier({ maxWorkers: 4, maxStreams: 1, maxFrameBytes: 1024, now: () => now });
    supplier.subscribe({ workerId: 'w', streamId: 's' });
    now = 1_000;
    expect(supplier.stats().workers[0].idle).toBe(false);
    supplier.setLimits({ idleAfterMs: 500 });
    expect(supplier.stats().workers[0].idle).toBe(true);
    expect(() => supplier.publish(testFrame('other', 1))).toThrow(SupplierLimitError);
    supplier.setLimits({ maxStreams: 2 });
    expect(() => supplier.publish(testFrame('other', 1))).not.toThrow();
    expect(() => supplier.setLimits({ maxWorkers: 0 })).toThrow(expect.objectContaining({ field: 'maxWorkers' }) as Error);
    expect(() => supplier.setLimits({ maxFrameBytes: 1 } as never)).toThrow(InvalidRequestError);
    expect(supplier.maxWorkers).toBe(4);
    supplier.close();
  });
});
