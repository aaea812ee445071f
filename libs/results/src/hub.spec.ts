import { Result, ResultKind } from '@framewire/proto';
import { exampleResult } from './examples';
import { IDLE_FORGET_US, PublishedResult, ResultHub } from './hub';
import { ResultValidationError } from './validate';

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
    hub.publish(exampleResult(K.RESULT_KIND_TRACKS));
    await waiting;
    expect(sub.take()).toBeDefined();
    const controller = new AbortController();
    const aborted = sub.waitForResult(controller.signal);
    controller.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    const closing = sub.waitForResult();
    sub.close();
    await closing;
    expect(sub.closed).toBe(true);
  });
});
