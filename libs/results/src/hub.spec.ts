import { Result, ResultKind } from '@framewire/proto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { exampleResult } from './examples';
import { IDLE_FORGET_US, NEW_SUBSCRIBERS_BUDGET_SHARE, PublishedResult, ResultHub, ResultSubscription, STALLED_AFTER_MS, SubscriberStalledError } from './hub';
import { DEFAULT_MAX_POINTS_PER_INSTANCE, ResultValidationError } from './validate';

const K = ResultKind;

function drain(sub: { take(): PublishedResult | undefined }): Result[] {
  const out: Result[] = [];
  for (let p = sub.take(); p; p = sub.take()) out.push(p.result);
  return out;
}

describe('ResultHub', () => {
  it('delivers to each subscriber only what its filter asks for', () => {
    const hub = new ResultHub();
    const all = hub.subscribe({});
    const cam2 = hub.subscribe({ streamId: 'cam-2' });
    const w1Tracks = hub.subscribe({ workerId: 'w1', kinds: [K.RESULT_KIND_TRACKS] });
    const published = [
      exampleResult(K.RESULT_KIND_TRACKS, { streamId: 'cam-1', workerId: 'w1' }),
      exampleResult(K.RESULT_KIND_KEYPOINTS, { streamId: 'cam-1', workerId: 'w1' }),
      exampleResult(K.RESULT_KIND_TRACKS, { streamId: 'cam-2', workerId: 'w2' }),
      exampleResult(K.RESULT_KIND_TRACKS, { streamId: 'cam-2', workerId: 'w1' }),
    ];
    for (const r of published) hub.publish(r);
    expect(drain(all)).toEqual(published);
    expect(drain(cam2)).toEqual([published[2], published[3]]);
    expect(drain(w1Tracks)).toEqual([published[0], published[3]]);
  });

  it('drops the oldest result of a full subscriber queue and counts it, without touching other subscribers', () => {
    const hub = new ResultHub({ subscriberQueueLength: 3 });
    const slow = hub.subscribe({});
    const fast = hub.subscribe({});
    const got: number[] = [];
    for (let seq = 1; seq <= 10; seq++) {
      hub.publish(exampleResult(K.RESULT_KIND_DETECTIONS, { frameSequence: seq }));
      got.push(fast.take()!.result.frameSequence);
    }
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(slow.queued).toBe(3);
    expect(slow.dropped).toBe(7);
    expect(drain(slow).map((r) => r.frameSequence)).toEqual([8, 9, 10]);
    expect(slow.delivered).toBe(3);
    expect(fast.dropped).toBe(0);
    expect(hub.stats().subscriberDrops).toBe(7);
    slow.close();
    expect(hub.stats().subscriberDrops).toBe(7);
    expect(hub.subscriberCount).toBe(1);
  });

  it('rejects an invalid result with a typed error and changes nothing but the rejected count', () => {
    const hub = new ResultHub();
    const sub = hub.subscribe({});
    const seen: PublishedResult[] = [];
    hub.addTap((p) => seen.push(p));
    expect(() => hub.publish({ ...exampleResult(K.RESULT_KIND_TRACKS), streamId: '' })).toThrow(ResultValidationError);
    expect(sub.queued).toBe(0);
    expect(seen).toHaveLength(0);
    expect(hub.streams()).toEqual([]);
    expect(hub.stats()).toMatchObject({ published: 0, rejected: 1 });
  });

  it('keeps publishing when a tap throws, and counts the failure', () => {
    const warnings: string[] = [];
    const hub = new ResultHub({ logger: { warn: (m) => warnings.push(m) } });
    const sub = hub.subscribe({});
    hub.addTap(() => {
      throw new Error('disk on fire');
    });
    hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { frameSequence: 1 }));
    hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { frameSequence: 2 }));
    expect(drain(sub)).toHaveLength(2);
    expect(hub.stats().tapFailures).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('disk on fire');
  });

  it('encodes a published result once, whatever the number of subscribers', () => {
    const hub = new ResultHub();
    const p = hub.publish(exampleResult(K.RESULT_KIND_SEGMENTATION));
    expect(p.encoded()).toBe(p.encoded());
    expect(Result.decode(p.encoded()).segmentation).toEqual(p.result.segmentation);
  });

  it('computes end-to-end latency percentiles per worker over the last window of results', () => {
    let now = 0;
    const hub = new ResultHub({ latencyWindow: 100, now: () => now });
    const capture = 1_000_000_000;
    // 200 results: the first 100 with latency 1 s (outside the window at the end), then 1..100 ms.
    for (let i = 0; i < 200; i++) {
      const latency = i < 100 ? 1_000_000 : (i - 99) * 1000;
      now = capture + i * 10_000 + latency;
      hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { workerId: 'w1', frameSequence: i + 1, captureTimeUs: capture + i * 10_000 }), now);
    }
    const [w] = hub.workers();
    expect(w).toMatchObject({ workerId: 'w1', streamId: 'cam-1', resultsTotal: 200 });
    expect(w.latency).toEqual({ p50Us: 50_000, p99Us: 99_000, samples: 100 });
    expect(w.resultsPerSecond).toBeGreaterThan(90);
    expect(w.resultsPerSecond).toBeLessThan(110);
  });

  it('answers the latest result per stream and kind, and summarises streams', () => {
    const hub = new ResultHub({ now: () => 5 });
    hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { streamId: 'a', workerId: 'w2', frameSequence: 1 }));
    const last = hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { streamId: 'a', workerId: 'w1', frameSequence: 2 }));
    hub.publish(exampleResult(K.RESULT_KIND_KEYPOINTS, { streamId: 'a', workerId: 'w1', frameSequence: 3 }));
    expect(hub.latest('a', K.RESULT_KIND_TRACKS)).toBe(last);
    expect(hub.latest('a', K.RESULT_KIND_STAGE)).toBeUndefined();
    expect(hub.latest('b', K.RESULT_KIND_TRACKS)).toBeUndefined();
    expect(hub.streams()).toEqual([
      {
        streamId: 'a',
        workers: ['w1', 'w2'],
        kinds: [K.RESULT_KIND_KEYPOINTS, K.RESULT_KIND_TRACKS],
        resultsTotal: 3,
        lastFrameSequence: 3,
        lastCaptureTimeUs: exampleResult(K.RESULT_KIND_KEYPOINTS, { frameSequence: 3 }).captureTimeUs,
        lastReceivedTimeUs: 5,
      },
    ]);
  });

  it('forgets streams and workers that have been idle for IDLE_FORGET_US', () => {
    let now = 1;
    const hub = new ResultHub({ now: () => now });
    hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { streamId: 'old', workerId: 'w1' }));
    now += IDLE_FORGET_US + 1;
    hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { streamId: 'new', workerId: 'w2' }));
    expect(hub.streams().map((s) => s.streamId)).toEqual(['new']);
    expect(hub.workers().map((w) => w.workerId)).toEqual(['w2']);
  });

  it('wakes a waiting subscriber on publish and on close, and rejects the wait on abort', async () => {
    const hub = new ResultHub();
    const sub = hub.subscribe({});
    const waiting = sub.waitForResult();
    const published = exampleResult(K.RESULT_KIND_TRACKS);
    hub.publish(published);
    await waiting;
    expect(sub.take()?.result).toEqual(published);
    const controller = new AbortController();
    const aborted = sub.waitForResult(controller.signal);
    controller.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    const closing = sub.waitForResult();
    sub.close();
    await closing;
    expect(sub.closed).toBe(true);
  });

  describe('memory bounds', () => {
    /** retainedBytes of a detections result of this stream (every stream id here has one length). */
    const sizeOf = (hub: ResultHub, streamId = 'cam-1'): number => hub.publish(exampleResult(K.RESULT_KIND_DETECTIONS, { streamId })).retainedBytes;

    it('drops the oldest results of a subscriber whose queue would exceed its byte bound, and counts them', () => {
      const size = sizeOf(new ResultHub());
      const hub = new ResultHub({ subscriberQueueBytes: 3 * size });
      const slow = hub.subscribe({});
      for (let seq = 1; seq <= 10; seq++) hub.publish(exampleResult(K.RESULT_KIND_DETECTIONS, { frameSequence: seq }));
      expect(slow.queued).toBe(3);
      expect(slow.queuedBytes).toBe(3 * size);
      expect(slow.dropped).toBe(7);
      expect(drain(slow).map((r) => r.frameSequence)).toEqual([8, 9, 10]);
      expect(slow.queuedBytes).toBe(0);
      expect(hub.stats()).toMatchObject({ subscriberDrops: 7, queuedBytes: 0 });
    });

    it('still queues a result larger than the byte bound, alone, so that it can be delivered', () => {
      const hub = new ResultHub({ subscriberQueueBytes: 1 });
      const sub = hub.subscribe({});
      hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { frameSequence: 1 }));
      hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { frameSequence: 2 }));
      expect(sub.dropped).toBe(1);
      expect(drain(sub).map((r) => r.frameSequence)).toEqual([2]);
    });

    it('counts a result waiting in many queues once against the budget of all queues', () => {
      const size = sizeOf(new ResultHub());
      const hub = new ResultHub({ queuedBytesBudget: 5 * size });
      const subs = Array.from({ length: 50 }, () => hub.subscribe({}));
      for (let seq = 1; seq <= 5; seq++) hub.publish(exampleResult(K.RESULT_KIND_DETECTIONS, { frameSequence: seq }));
      expect(hub.stats()).toMatchObject({ queuedBytes: 5 * size, queueBudgetDrops: 0, subscriberDrops: 0 });
      for (const s of subs) expect(s.queued).toBe(5);
      for (const s of subs.slice(1)) s.close();
      expect(hub.stats().queuedBytes).toBe(5 * size);
      subs[0].take();
      expect(hub.stats().queuedBytes).toBe(4 * size);
    });

    it('keeps subscribers with disjoint filters within the budget of all queues, the largest queue losing its oldest first', () => {
      const size = sizeOf(new ResultHub(), 'cam-0');
      const hub = new ResultHub({ subscriberQueueBytes: 100 * size, queuedBytesBudget: 12 * size });
      const subs = Array.from({ length: 4 }, (_, i) => hub.subscribe({ streamId: `cam-${i}` }));
      // Ten results for each stream in turn: 40 distinct results, room for 12.
      for (let seq = 1; seq <= 10; seq++) {
        for (let i = 0; i < subs.length; i++) hub.publish(exampleResult(K.RESULT_KIND_DETECTIONS, { streamId: `cam-${i}`, frameSequence: seq }));
        expect(hub.stats().queuedBytes).toBeLessThanOrEqual(12 * size);
      }
      // Each queue kept the same share: its three newest.
      for (const s of subs) expect(drain(s).map((r) => r.frameSequence)).toEqual([8, 9, 10]);
      expect(hub.stats()).toMatchObject({ queueBudgetDrops: 28, subscriberDrops: 28, queuedBytes: 0 });
    });

    it('holds the encoding of a queued result, not the decoded result (a tenth of the memory)', () => {
      // Segmentation of 300,000 vertices: about 0.6 MB encoded, 5 MB as JavaScript arrays.
      const points = Array.from({ length: 2 * DEFAULT_MAX_POINTS_PER_INSTANCE }, (_, j) => j % 50);
      const large = (): Result => ({
        ...exampleResult(K.RESULT_KIND_SEGMENTATION),
        segmentation: { width: 1920, height: 1080, instances: Array.from({ length: 3 }, (_, i) => ({ classId: 1, instanceId: i, confidence: 0.5, points: points.slice() })) },
      });
      const hub = new ResultHub();
      const sub = hub.subscribe({});
      const count = 8;
      collectGarbage();
      const before = process.memoryUsage();
      // Each publish gets its own object, as decoded from a worker's message.
      for (let i = 0; i < count; i++) hub.publish(large());
      collectGarbage();
      const after = process.memoryUsage();
      const grownMiB = (after.heapUsed + after.external - before.heapUsed - before.external) / 2 ** 20;
      expect(sub.queued).toBe(count);
      // Eight encodings are 5 MiB; eight decoded results would be about 40 MiB.
      expect(grownMiB).toBeLessThan(20);
      const delivered = sub.take()!.result.segmentation!.instances[2].points;
      expect(delivered.length).toBe(points.length);
      expect(delivered.every((v, j) => v === points[j])).toBe(true);
    });

    it('gives taps the published object, and the decoded bytes once publish returned', () => {
      const hub = new ResultHub();
      const published = exampleResult(K.RESULT_KIND_KEYPOINTS);
      const seen: Result[] = [];
      hub.addTap((p) => seen.push(p.result));
      const p = hub.publish(published);
      expect(seen[0]).toBe(published);
      expect(p.result).not.toBe(published);
      expect(p.result).toEqual(Result.decode(Result.encode(published).finish()));
      expect(Buffer.from(p.encodedResponse())).toEqual(Buffer.concat([Buffer.from([0x0a]), encodeVarint(p.encoded().length), Buffer.from(p.encoded())]));
    });

    it('answers the latest result of one worker, and of any worker', () => {
      const hub = new ResultHub();
      const w1 = hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { streamId: 'a', workerId: 'w1', frameSequence: 1 }));
      const w2 = hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { streamId: 'a', workerId: 'w2', frameSequence: 2 }));
      expect(hub.latest('a', K.RESULT_KIND_TRACKS, 'w1')).toBe(w1);
      expect(hub.latest('a', K.RESULT_KIND_TRACKS, 'w2')).toBe(w2);
      expect(hub.latest('a', K.RESULT_KIND_TRACKS)).toBe(w2);
      expect(hub.latest('a', K.RESULT_KIND_TRACKS, 'w3')).toBeUndefined();
      const again = hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { streamId: 'a', workerId: 'w1', frameSequence: 3 }));
      expect(hub.latest('a', K.RESULT_KIND_TRACKS)).toBe(again);
    });

    it('forgets the least recently updated latest results beyond their byte budget', () => {
      const size = sizeOf(new ResultHub(), 's0');
      const hub = new ResultHub({ latestBytesBudget: 3 * size });
      for (let i = 0; i < 10; i++) hub.publish(exampleResult(K.RESULT_KIND_DETECTIONS, { streamId: `s${i}`, frameSequence: i }));
      expect(hub.stats().latestBytes).toBe(3 * size);
      expect([...Array(10).keys()].filter((i) => hub.latest(`s${i}`, K.RESULT_KIND_DETECTIONS) !== undefined)).toEqual([7, 8, 9]);
      // The streams themselves are still known, with every kind they had.
      expect(hub.streams()).toHaveLength(10);
      expect(hub.streams()[0].kinds).toEqual([K.RESULT_KIND_DETECTIONS]);
    });

    it('forgets the latest results of an idle worker with it', () => {
      let now = 1;
      const hub = new ResultHub({ now: () => now });
      hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { streamId: 'a', workerId: 'old' }));
      now += IDLE_FORGET_US + 1;
      hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { streamId: 'b', workerId: 'w' }));
      expect(hub.latest('a', K.RESULT_KIND_TRACKS, 'old')).toBeUndefined();
      expect(hub.stats().latestBytes).toBe(hub.latest('b', K.RESULT_KIND_TRACKS)!.retainedBytes);
    });
  });
});

describe('ResultHub transports and stalled subscribers', () => {
  const MS = 1000;
  const STALL_TIMEOUT_MS = 60_000;
  /** A hub on a manual clock (µs) and the retainedBytes of each result published here. */
  function stallHub(options: { budgetResults?: number; logger?: { warn(message: string): void } } = {}) {
    const clock = { now: 1_000_000 };
    const size = new ResultHub().publish(exampleResult(K.RESULT_KIND_DETECTIONS)).retainedBytes;
    const hub = new ResultHub({
      now: () => clock.now,
      stallTimeoutMs: STALL_TIMEOUT_MS,
      queuedBytesBudget: options.budgetResults === undefined ? undefined : options.budgetResults * size,
      logger: options.logger,
    });
    const publish = (seq: number) => hub.publish(exampleResult(K.RESULT_KIND_DETECTIONS, { frameSequence: seq }));
    return { hub, clock, size, publish };
  }
  /** Moves what a subscriber may take into its transport (as a connection's writer does); returns it. */
  function fillTransport(sub: ResultSubscription): PublishedResult[] {
    const taken: PublishedResult[] = [];
    for (let p = sub.takeForTransport(); p; p = sub.takeForTransport()) taken.push(p);
    return taken;
  }

  it('counts what a transport holds against the budget, with the queues, until it is handed on', () => {
    const { hub, size, publish } = stallHub();
    const sub = hub.subscribe({});
    publish(1);
    publish(2);
    const [first] = [sub.takeForTransport()!];
    // The result left the last queue holding it: it moved, it did not double.
    expect(hub.stats()).toMatchObject({ queuedBytes: size, transportBytes: size });
    expect(sub.transportBytes).toBe(size);
    sub.transported(first);
    expect(hub.stats()).toMatchObject({ queuedBytes: size, transportBytes: 0 });
    sub.close();
    expect(hub.stats()).toMatchObject({ queuedBytes: 0, transportBytes: 0 });
  });

  it('releases what a closed subscription held in its transport', () => {
    const { hub, publish } = stallHub();
    const sub = hub.subscribe({});
    publish(1);
    const taken = fillTransport(sub);
    sub.close();
    expect(hub.stats().transportBytes).toBe(0);
    // A write completing after the close changes nothing.
    sub.transported(taken[0]);
    expect(hub.stats().transportBytes).toBe(0);
  });

  it('keeps queues and transports together within the budget however many subscribers hold a result', async () => {
    const { hub, clock, size, publish } = stallHub({ budgetResults: 4 });
    const subs = Array.from({ length: 20 }, () => hub.subscribe({}));
    // Each reads a first result, one after the other (so that none is a newcomer, held to its share).
    publish(0);
    for (const s of subs) for (const p of fillTransport(s)) s.transported(p);
    expect(subs.every((s) => s.delivered === 1)).toBe(true);
    clock.now += MS;
    publish(1);
    // The same result into twenty transports: each copy counts (the queues that still hold it give
    // it up to make room), so four fit.
    const taken = new Map<ResultSubscription, PublishedResult>();
    for (const s of subs) {
      const p = s.takeForTransport();
      if (p !== undefined) taken.set(s, p);
    }
    expect(taken.size).toBe(4);
    expect(hub.stats().queuedBytes + hub.stats().transportBytes).toBe(4 * size);
    // The others wait for room, and are woken when a transport hands its result on.
    const waiting = subs.filter((s) => !taken.has(s));
    expect(waiting.every((s) => s.queued === 0)).toBe(true);
    publish(2);
    const [first, p] = [...taken][0];
    const [later, earlier] = [waiting[1], waiting[0]];
    expect(earlier.takeForTransport()).toBeUndefined();
    const order: ResultSubscription[] = [];
    const waits = [later, earlier, first].map((s) => s.waitForRoom().then(() => order.push(s)));
    first.transported(p);
    await Promise.all(waits);
    // Woken in order: the one that handed something on, then the one that has waited longest.
    expect(order).toEqual([first, earlier, later]);
    expect(hub.stats().stallDisconnects).toBe(0);
  });

  it('disconnects a subscriber whose transport handed nothing on for the stall timeout, with the reason', () => {
    const { hub, clock, size, publish } = stallHub();
    const stalled = hub.subscribe({});
    const reader = hub.subscribe({});
    publish(1);
    fillTransport(stalled);
    const [r1] = fillTransport(reader);
    clock.now += (STALL_TIMEOUT_MS - 1) * MS;
    reader.transported(r1);
    expect(hub.closeStalled()).toBe(0);
    clock.now += 1 * MS;
    expect(hub.closeStalled()).toBe(1);
    expect(stalled.closed).toBe(true);
    const reason = stalled.signal.reason as SubscriberStalledError;
    expect(reason).toBeInstanceOf(SubscriberStalledError);
    expect(reason.kind).toBe('timeout');
    expect(reason.message).toBe(`subscriber read nothing for 60.0 s while holding ${size} bytes; results dropped`);
    // What it holds still counts until its transport is closed.
    expect(hub.stats()).toMatchObject({ stallDisconnects: 1, budgetDisconnects: 0, transportBytes: size, subscribers: 1 });
    stalled.close();
    expect(hub.stats().transportBytes).toBe(0);
    // The reader, idle now, is never stalled.
    clock.now += 10 * STALL_TIMEOUT_MS * MS;
    expect(hub.closeStalled()).toBe(0);
    expect(reader.closed).toBe(false);
  });

  it('never disconnects a subscriber that hands something on within each stall timeout, however slowly', () => {
    const { hub, clock, publish } = stallHub({ budgetResults: 3 });
    const slow = hub.subscribe({});
    for (let seq = 1; seq <= 100; seq++) {
      publish(seq);
      const taken = fillTransport(slow);
      clock.now += (STALL_TIMEOUT_MS / 2) * MS;
      hub.closeStalled();
      for (const p of taken) slow.transported(p);
    }
    expect(slow.closed).toBe(false);
    expect(hub.stats().stallDisconnects).toBe(0);
  });

  it('when the budget is full, disconnects the subscriber stalled longest before a reader loses a result', () => {
    const { hub, clock, size, publish } = stallHub({ budgetResults: 4 });
    const stalledLong = hub.subscribe({ streamId: 'cam-1' }, 'the long one');
    publish(1);
    fillTransport(stalledLong);
    clock.now += STALLED_AFTER_MS * MS;
    const stalledShort = hub.subscribe({ streamId: 'cam-1' });
    publish(2);
    fillTransport(stalledShort);
    clock.now += STALLED_AFTER_MS * MS;
    // A reader with two results queued; two more results make five, over the budget of four.
    const reader = hub.subscribe({});
    publish(3);
    publish(4);
    expect(hub.stats().stallDisconnects).toBe(0);
    publish(5);
    expect(stalledLong.closed).toBe(true);
    expect((stalledLong.signal.reason as SubscriberStalledError).kind).toBe('budget');
    expect((stalledLong.signal.reason as SubscriberStalledError).message).toMatch(/^subscriber read nothing for 10\.0 s while holding \d+ bytes; results dropped \(results memory full\)$/);
    expect(stalledShort.closed).toBe(false);
    expect(reader.dropped).toBe(0);
    expect(drain(reader).map((r) => r.frameSequence)).toEqual([3, 4, 5]);
    expect(hub.stats()).toMatchObject({ stallDisconnects: 1, budgetDisconnects: 1 });
    // Its transport counts until closed; then the budget has room again.
    expect(hub.stats().transportBytes).toBe(2 * size);
    stalledLong.close();
    expect(hub.stats().transportBytes).toBe(size);
  });

  it('lets readers lose their oldest results, not their connection, when the budget is full and nobody is stalled', () => {
    const { hub, publish } = stallHub({ budgetResults: 3 });
    const a = hub.subscribe({});
    const b = hub.subscribe({});
    for (let seq = 1; seq <= 10; seq++) publish(seq);
    expect(hub.stats().stallDisconnects).toBe(0);
    expect(a.closed || b.closed).toBe(false);
    expect(hub.stats().queueBudgetDrops).toBeGreaterThan(0);
    expect(drain(a).map((r) => r.frameSequence)).toEqual([8, 9, 10]);
  });

  it('keeps a reader receiving while subscribers that never hand anything on keep arriving and ask for room first', () => {
    const { hub, clock, size, publish } = stallHub({ budgetResults: 3 });
    const reader = hub.subscribe({}, 'reader');
    publish(1);
    const [first] = fillTransport(reader);
    reader.transported(first);
    // Paused clients that take one result each and hand nothing on, far more than the budget holds,
    // arriving one by one (none stalled long enough to give way), whose writers ask before the reader's.
    const paused: ResultSubscription[] = [];
    const received: number[] = [];
    for (let seq = 2; seq <= 21; seq++) {
      paused.push(hub.subscribe({}, `paused ${seq}`));
      clock.now += 100 * MS;
      publish(seq);
      for (const s of paused) if (s.transportBytes === 0) s.takeForTransport();
      const p = reader.takeForTransport();
      if (p !== undefined) {
        received.push(p.frameSequence);
        reader.transported(p);
      }
      expect(hub.stats().queuedBytes + hub.stats().transportBytes).toBeLessThanOrEqual(3 * size);
    }
    expect(received).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    // The paused ones hold at most NEW_SUBSCRIBERS_BUDGET_SHARE of the budget between them.
    const held = paused.filter((s) => s.transportBytes > 0).length;
    expect(held).toBeGreaterThan(0);
    expect(held * size).toBeLessThanOrEqual(3 * size * NEW_SUBSCRIBERS_BUDGET_SHARE);
    expect(hub.stats().stallDisconnects).toBe(0);
  });

  it('gives newcomers their first result in the order they began to wait, however many arrive later', () => {
    const { hub, clock, publish } = stallHub({ budgetResults: 2 });
    const holder = hub.subscribe({}, 'holds the newcomers share');
    publish(1);
    expect(fillTransport(holder)).toHaveLength(1);
    const waiting = hub.subscribe({}, 'waits');
    publish(2);
    expect(waiting.takeForTransport()).toBeUndefined();
    void waiting.waitForRoom();
    // Clients arriving later cannot overtake it, even when room is made.
    clock.now += STALLED_AFTER_MS * MS;
    const late = hub.subscribe({}, 'arrives later');
    publish(3);
    expect(late.takeForTransport()).toBeUndefined();
    expect(waiting.takeForTransport()?.frameSequence).toBe(2);
    expect(holder.signal.aborted).toBe(true);
  });

  it('makes room for a newcomer by disconnecting the newcomer that has held a result without reading longest', () => {
    const { hub, clock, publish } = stallHub({ budgetResults: 2 });
    const stuck = hub.subscribe({}, 'never reads');
    publish(1);
    expect(fillTransport(stuck)).toHaveLength(1);
    clock.now += STALLED_AFTER_MS * MS;
    const late = hub.subscribe({}, 'arrives later');
    publish(2);
    expect(late.takeForTransport()?.frameSequence).toBe(2);
    expect(stuck.signal.aborted).toBe(true);
    expect(hub.stats().stallDisconnects).toBe(1);
  });

  it('lets a result larger than the budget into a transport that holds nothing, alone', () => {
    const clock = { now: 1 };
    const hub = new ResultHub({ now: () => clock.now, queuedBytesBudget: 1 });
    const sub = hub.subscribe({});
    hub.publish(exampleResult(K.RESULT_KIND_TRACKS));
    // Over the budget at once: dropped from the queue, as before.
    expect(sub.queued).toBe(0);
    hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { frameSequence: 2 }));
    expect(sub.takeForTransport()).toBeUndefined();
  });

  it('logs each disconnection once with the subscriber it names, at most 16 lines per 10 s', () => {
    const lines: string[] = [];
    const { hub, clock, publish } = stallHub({ logger: { warn: (line) => lines.push(line) } });
    const subs = Array.from({ length: 20 }, (_, i) => hub.subscribe({}, `SubscribeResults from 10.0.0.${i}:5000`));
    publish(1);
    for (const s of subs) fillTransport(s);
    clock.now += STALL_TIMEOUT_MS * MS;
    expect(hub.closeStalled()).toBe(20);
    expect(hub.closeStalled()).toBe(0);
    expect(lines).toHaveLength(16);
    expect(lines[0]).toMatch(/^SubscribeResults from 10\.0\.0\.0:5000 disconnected: subscriber read nothing for 60\.0 s while holding \d+ bytes; results dropped$/);
    // The next line, after the interval, says how many went unlogged.
    const late = hub.subscribe({}, 'late');
    publish(2);
    fillTransport(late);
    clock.now += STALL_TIMEOUT_MS * MS;
    hub.closeStalled();
    expect(lines[16]).toMatch(/^late disconnected: .* \(and 4 more before, not logged\)$/);
  });
});

/** A full GC, so that memory figures count what stays referenced (@framewire/testing's
 *  collectGarbage; importing it here would make the two libraries depend on each other). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function encodeVarint(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 0x80; n >>>= 7) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return Buffer.from(out);
}
