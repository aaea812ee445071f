import { mkdir, mkdtemp, readdir, rm, stat, truncate, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseSegmentFileName, readArchive, readPointDefinition, segmentFiles } from '@framewire/archive';
import { decodeSegmentation } from '@framewire/overlay-codecs';
import { Result, ResultKind } from '@framewire/proto';
import { asReceived, exampleResult } from './examples';
import { ResultHub } from './hub';
import { ResultRecorder } from './recorder';
import { IDLE_ARCHIVE_CLOSE_MS, MAX_OPEN_ARCHIVES } from './recorder-options';
import { ReplayRequestError, replayOrder, replayResults } from './replay';
import { RESULT_KINDS } from './validate';

const K = ResultKind;
let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'fw-results-'));
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function collect(iterable: AsyncIterable<Result>): Promise<Result[]> {
  const out: Result[] = [];
  for await (const r of iterable) out.push(r);
  return out;
}

/** Results of every kind from two workers, interleaved by frame. */
function mixedResults(frames: number, streamId = 'cam-1'): Result[] {
  const out: Result[] = [];
  for (let seq = 1; seq <= frames; seq++) {
    for (const kind of RESULT_KINDS) {
      out.push(exampleResult(kind, { streamId, workerId: kind % 2 ? 'w1' : 'w2', frameSequence: seq }));
    }
  }
  return out;
}

function byCaptureOrder(results: Result[]): Result[] {
  return [...results].sort(replayOrder);
}

async function recordAll(results: Result[], recorder: ResultRecorder): Promise<void> {
  const hub = new ResultHub();
  hub.addTap((p) => recorder.record(p));
  for (const r of results) hub.publish(r);
  await recorder.flush();
}

async function listBins(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.bin')) out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

describe('ResultRecorder and replayResults', () => {
  it('replays results of every kind and two workers exactly as a subscriber received them', async () => {
    const results = mixedResults(20);
    const recorder = new ResultRecorder({ directory });
    await recordAll(results, recorder);
    await recorder.close();
    const replayed = await collect(replayResults({ directory, streamId: 'cam-1' }));
    expect(replayed).toStrictEqual(byCaptureOrder(results).map(asReceived));
    expect(recorder.stats()).toMatchObject({ recorded: results.length, errors: 0, dropped: 0 });
  });

  it('writes keypoints and segmentation in the RW formats, with the RW point sidecar', async () => {
    const recorder = new ResultRecorder({ directory });
    await recordAll(mixedResults(3), recorder);
    await recorder.close();
    const bins = await listBins(join(directory, 'cam-1'));
    const keypointsBin = bins.find((b) => /\/keypoints-cam-1-/.test(b)) as string;
    const segmentationBin = bins.find((b) => /\/segmentation-cam-1-/.test(b)) as string;
    expect(keypointsBin).toContain(join('cam-1', 'w1'));
    const sidecar = await readPointDefinition(segmentFiles(keypointsBin).points);
    expect(sidecar).toEqual({ version: '1.0', computeModuleName: 'w1', points: { centroid: 0, top: 1, extra: 7 } });
    const frames = [];
    for await (const frame of readArchive(segmentationBin)) frames.push(frame);
    expect(frames).toHaveLength(3);
    const decoded = decodeSegmentation(frames[2].payload);
    expect(decoded.frameId).toBe(3n);
    expect(Array.from(decoded.instances[0].points)).toEqual([10, 10, 53, 10, 50, 60, -3, 4]);
  });

  it('filters replay by kind, sequence range and capture-time range', async () => {
    const results = mixedResults(30);
    const recorder = new ResultRecorder({ directory });
    await recordAll(results, recorder);
    await recorder.close();
    const expected = (keep: (r: Result) => boolean): Result[] => byCaptureOrder(results.filter(keep)).map(asReceived);

    const bySeq = await collect(replayResults({ directory, streamId: 'cam-1', fromSequence: 5, toSequence: 9 }));
    expect(bySeq).toStrictEqual(expected((r) => r.frameSequence >= 5 && r.frameSequence <= 9));

    const from = exampleResult(K.RESULT_KIND_TRACKS, { frameSequence: 10 }).captureTimeUs;
    const to = exampleResult(K.RESULT_KIND_TRACKS, { frameSequence: 20 }).captureTimeUs;
    const byTime = await collect(replayResults({ directory, streamId: 'cam-1', fromTimeUs: from, toTimeUs: to, kinds: [K.RESULT_KIND_KEYPOINTS, K.RESULT_KIND_STAGE] }));
    expect(byTime).toStrictEqual(
      expected((r) => r.captureTimeUs >= from && r.captureTimeUs <= to && (r.keypoints !== undefined || r.stage !== undefined)),
    );
    expect(byTime).toHaveLength(22);
  });

  it('rotates every archive of a kind together by size, and replays across segments seamlessly', async () => {
    const results = mixedResults(60);
    const recorder = new ResultRecorder({ directory, rotation: { maxSegmentBytes: 600 } });
    await recordAll(results, recorder);
    await recorder.close();
    const keypointBins = (await listBins(directory)).filter((b) => /\/keypoints-/.test(b));
    const envelopeBins = (await listBins(directory)).filter((b) => /\/keypoints\.envelope-/.test(b));
    expect(keypointBins.length).toBeGreaterThan(3);
    expect(envelopeBins).toHaveLength(keypointBins.length);
    for (const bin of keypointBins) expect((await stat(bin)).size).toBeLessThanOrEqual(600);
    const replayed = await collect(replayResults({ directory, streamId: 'cam-1' }));
    expect(replayed).toStrictEqual(byCaptureOrder(results).map(asReceived));
    // A time range starting late skips early segments through the index and still gives the rest.
    const from = exampleResult(K.RESULT_KIND_TRACKS, { frameSequence: 50 }).captureTimeUs;
    const late = await collect(replayResults({ directory, streamId: 'cam-1', fromTimeUs: from }));
    expect(late).toStrictEqual(byCaptureOrder(results.filter((r) => r.captureTimeUs >= from)).map(asReceived));
  });

  it('keeps one keypoints segment while tracks come and go, its RW sidecar naming every point seen', async () => {
    const frame = (seq: number, tracks: number[]): Result => {
      const r = exampleResult(K.RESULT_KIND_KEYPOINTS, { frameSequence: seq });
      r.keypoints = {
        points: tracks.map((t) => ({ id: t * 8, x: 10 * t + seq, y: 20, confidence: Math.fround(0.5) })),
        pointNames: Object.fromEntries(tracks.map((t) => [`t${t}.centroid`, t * 8])),
      };
      return r;
    };
    const results = [frame(1, [1]), frame(2, [1, 2]), frame(3, [2]), frame(4, []), frame(5, [3, 1])];
    const recorder = new ResultRecorder({ directory });
    await recordAll(results, recorder);
    await recorder.close();
    const bins = (await listBins(directory)).filter((b) => /\/keypoints-/.test(b));
    expect(bins).toHaveLength(1);
    expect((await readPointDefinition(segmentFiles(bins[0]).points))?.points).toEqual({ 't1.centroid': 8, 't2.centroid': 16, 't3.centroid': 24 });
    expect(await collect(replayResults({ directory, streamId: 'cam-1' }))).toStrictEqual(results.map(asReceived));
  });

  it("replays a frame's own point names when they name points it does not hold", async () => {
    const skeleton = exampleResult(K.RESULT_KIND_KEYPOINTS, { frameSequence: 1 });
    skeleton.keypoints = { points: [{ id: 0, x: 1, y: 2, confidence: Math.fround(0.75) }], pointNames: { nose: 0, left_eye: 1, right_eye: 2 } };
    const next = exampleResult(K.RESULT_KIND_KEYPOINTS, { frameSequence: 2 });
    next.keypoints = { points: [{ id: 1, x: 3, y: 4, confidence: Math.fround(0.5) }], pointNames: { left_eye: 1 } };
    const recorder = new ResultRecorder({ directory });
    await recordAll([skeleton, next], recorder);
    await recorder.close();
    expect((await listBins(directory)).filter((b) => /\/keypoints-/.test(b))).toHaveLength(1);
    expect(await collect(replayResults({ directory, streamId: 'cam-1' }))).toStrictEqual([skeleton, next].map(asReceived));
  });

  it('starts a new keypoints segment when point names contradict the segment\'s, or a frame names none of points the segment names', async () => {
    const first = exampleResult(K.RESULT_KIND_KEYPOINTS, { frameSequence: 1 });
    const second = exampleResult(K.RESULT_KIND_KEYPOINTS, { frameSequence: 2 });
    second.keypoints!.pointNames = { nose: 0 };
    const third = exampleResult(K.RESULT_KIND_KEYPOINTS, { frameSequence: 3 });
    third.keypoints!.pointNames = {};
    const recorder = new ResultRecorder({ directory });
    await recordAll([first, second, third], recorder);
    await recorder.close();
    expect((await listBins(directory)).filter((b) => /\/keypoints-/.test(b))).toHaveLength(3);
    expect(await collect(replayResults({ directory, streamId: 'cam-1' }))).toStrictEqual([first, second, third].map(asReceived));
  });

  it('replays any sequence of keypoints frames with any point names exactly', async () => {
    const NAMES = ['a', 'b', 'c', 'd'];
    const frameArb = fc.record({
      ids: fc.uniqueArray(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }),
      names: fc.dictionary(fc.constantFrom(...NAMES), fc.integer({ min: 0, max: 5 }), { maxKeys: 4 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 8 }), async (frames) => {
        const dir = await mkdtemp(join(tmpdir(), 'fw-results-names-'));
        try {
          const results = frames.map(({ ids, names }, i) => {
            const r = exampleResult(K.RESULT_KIND_KEYPOINTS, { frameSequence: i + 1 });
            r.keypoints = { points: ids.map((id) => ({ id, x: id, y: i, confidence: Math.fround(0.25) })), pointNames: names };
            return r;
          });
          const recorder = new ResultRecorder({ directory: dir });
          await recordAll(results, recorder);
          await recorder.close();
          expect(await collect(replayResults({ directory: dir, streamId: 'cam-1' }))).toStrictEqual(results.map(asReceived));
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 40 },
    );
  }, 60_000);

  it('deletes the oldest whole segments by total size and by age, never the one being written', async () => {
    let now = Date.parse('2024-03-05T06:07:08Z');
    const recorder = new ResultRecorder({ directory, rotation: { maxSegmentBytes: 400 }, retention: { maxBytes: 8000 }, clock: () => now });
    const results = mixedResults(80).filter((r) => r.keypoints || r.detections);
    await recordAll(results, recorder);
    const before = await listBins(directory);
    await recorder.sweep();
    const after = await listBins(directory);
    expect(after.length).toBeLessThan(before.length);
    expect(recorder.stats().segmentsDeleted).toBe(before.length - after.length);
    // Every RW segment left still has its envelope: replay gives a suffix of what was recorded.
    const replayed = await collect(replayResults({ directory, streamId: 'cam-1' }));
    expect(replayed.length).toBeGreaterThan(0);
    const kept = byCaptureOrder(results).map(asReceived);
    for (const r of replayed) expect(kept).toContainEqual(r);
    const last = replayed[replayed.length - 1];
    expect(last.frameSequence).toBe(80);

    // By age: everything not open is older than an hour.
    const hourAgo = new Date(now - 3_600_000);
    for (const bin of after) {
      for (const file of Object.values(segmentFiles(bin))) await utimes(file, hourAgo, hourAgo).catch(() => undefined);
    }
    now += 1;
    const aged = new ResultRecorder({ directory, retention: { maxAgeMs: 60_000 }, clock: () => now });
    const keptOpen = (await listBins(directory)).length;
    await aged.sweep();
    expect((await listBins(directory)).length).toBe(0);
    expect(keptOpen).toBeGreaterThan(0);
    await aged.close();
    // The first recorder's open segments were deleted from under it only because another recorder
    // swept: its own sweep never deletes them (checked above by the suffix ending at frame 80).
    await recorder.close();
  });

  it('keeps the results before a torn tail in the last segment', async () => {
    const results = mixedResults(10).filter((r) => r.tracks || r.segmentation);
    const recorder = new ResultRecorder({ directory });
    await recordAll(results, recorder);
    await recorder.close();
    for (const bin of await listBins(directory)) {
      const size = (await stat(bin)).size;
      await truncate(bin, size - 3);
    }
    const replayed = await collect(replayResults({ directory, streamId: 'cam-1' }));
    expect(replayed).toStrictEqual(byCaptureOrder(results.filter((r) => r.frameSequence <= 9)).map(asReceived));
  });

  it('replays at the recorded pace, taking about the recorded duration', async () => {
    const results = [1, 2, 3, 4, 5, 6].map((seq) => exampleResult(K.RESULT_KIND_TRACKS, { frameSequence: seq, captureTimeUs: 1e15 + seq * 60_000 }));
    const recorder = new ResultRecorder({ directory });
    await recordAll(results, recorder);
    await recorder.close();
    const started = performance.now();
    const replayed = await collect(replayResults({ directory, streamId: 'cam-1', recordedPace: true }));
    expect(replayed).toHaveLength(6);
    expect(performance.now() - started).toBeGreaterThanOrEqual(5 * 60 * 0.9);
  });

  it('stops a replay when its signal aborts', async () => {
    const results = [1, 2, 3].map((seq) => exampleResult(K.RESULT_KIND_TRACKS, { frameSequence: seq, captureTimeUs: 1e15 + seq * 1_000_000 }));
    const recorder = new ResultRecorder({ directory });
    await recordAll(results, recorder);
    await recorder.close();
    const controller = new AbortController();
    const got: Result[] = [];
    for await (const r of replayResults({ directory, streamId: 'cam-1', recordedPace: true, signal: controller.signal })) {
      got.push(r);
      controller.abort();
    }
    expect(got).toHaveLength(1);
  });

  it('refuses bad replay requests with a typed error naming the field', () => {
    expect(() => replayResults({ directory, streamId: '' })).toThrow(ReplayRequestError);
    expect(() => replayResults({ directory, streamId: 'a', fromSequence: 5, toSequence: 4 })).toThrow('from_sequence: 5 is after to_sequence 4');
    expect(() => replayResults({ directory, streamId: 'a', fromTimeUs: -1 })).toThrow('from_time_us');
  });

  it('answers an empty replay for a stream never recorded', async () => {
    expect(await collect(replayResults({ directory, streamId: 'nothing' }))).toEqual([]);
  });

  it('counts results recorded after close as dropped and never throws into publish', async () => {
    const recorder = new ResultRecorder({ directory });
    await recorder.close();
    const hub = new ResultHub();
    hub.addTap((p) => recorder.record(p));
    hub.publish(exampleResult(K.RESULT_KIND_TRACKS));
    expect(recorder.stats().dropped).toBe(1);
    expect(hub.stats().tapFailures).toBe(0);
  });

  it(`records every result exactly once, with unique segment numbers, to more than MAX_OPEN_ARCHIVES (${MAX_OPEN_ARCHIVES}) archives`, async () => {
    // 150 workers × 2 kinds = 300 archives, in turn: each round evicts archives and reopens them
    // while their writers are still opening or closing.
    const workers = Array.from({ length: 150 }, (_, i) => `w${String(i).padStart(3, '0')}`);
    const results: Result[] = [];
    for (let seq = 1; seq <= 4; seq++) {
      for (const workerId of workers) {
        for (const kind of [K.RESULT_KIND_TRACKS, K.RESULT_KIND_KEYPOINTS]) results.push(exampleResult(kind, { workerId, frameSequence: seq }));
      }
    }
    const warnings: string[] = [];
    const recorder = new ResultRecorder({ directory, logger: { warn: (m) => warnings.push(m) } });
    await recordAll(results, recorder);
    await recorder.close();
    expect(warnings).toEqual([]);
    expect(recorder.stats()).toMatchObject({ recorded: results.length, errors: 0, dropped: 0 });

    const replayed = await collect(replayResults({ directory, streamId: 'cam-1' }));
    expect(replayed).toHaveLength(results.length);
    expect(replayed).toStrictEqual(byCaptureOrder(results).map(asReceived));
    const numbers = new Map<string, number[]>();
    for (const bin of await listBins(directory)) {
      const name = parseSegmentFileName(bin)!;
      const archive = join(bin, '..', name.baseName);
      numbers.set(archive, [...(numbers.get(archive) ?? []), name.seq]);
    }
    expect(numbers.size).toBe(workers.length * 3);
    for (const seqs of numbers.values()) expect(new Set(seqs).size).toBe(seqs.length);
    // No temporary sidecar was left behind.
    const leftovers = (await readdir(directory, { recursive: true })).filter((name) => name.includes('.tmp-'));
    expect(leftovers).toEqual([]);
  });

  it('bounds the results waiting for the disk in bytes, per archive and over all archives', async () => {
    const hub = new ResultHub();
    const size = hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { workerId: 'a' })).retainedBytes;
    const perArchive = new ResultRecorder({ directory, maxPendingBytesPerArchive: 3 * size });
    const total = new ResultRecorder({ directory: join(directory, 'total'), maxPendingBytes: 4 * size });
    hub.addTap((p) => perArchive.record(p));
    hub.addTap((p) => total.record(p));
    // Published in one go: nothing is written before all ten are offered.
    for (let seq = 1; seq <= 10; seq++) {
      hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { workerId: 'a', frameSequence: seq }));
      hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { workerId: 'b', frameSequence: seq }));
    }
    expect(perArchive.stats()).toMatchObject({ pending: 6, pendingBytes: 6 * size, dropped: 14 });
    expect(total.stats()).toMatchObject({ pending: 4, pendingBytes: 4 * size, dropped: 16 });
    await Promise.all([perArchive.close(), total.close()]);
    expect(perArchive.stats()).toMatchObject({ recorded: 6, pending: 0, pendingBytes: 0 });
    const replayed = await collect(replayResults({ directory, streamId: 'cam-1' }));
    expect(replayed.map((r) => `${r.workerId}${r.frameSequence}`)).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
  });

  it('records no new stream/worker directory beyond maxDirectories, counting the results and logging once', async () => {
    await mkdir(join(directory, 'cam-0', 'w0'), { recursive: true });
    const warnings: string[] = [];
    const recorder = new ResultRecorder({ directory, maxDirectories: 2, logger: { warn: (m) => warnings.push(m) } });
    const results = ['w1', 'w2', 'w3', 'w1', 'w2'].map((workerId, i) => exampleResult(K.RESULT_KIND_TRACKS, { workerId, frameSequence: i + 1 }));
    await recordAll(results, recorder);
    await recorder.close();
    expect(recorder.stats()).toMatchObject({ recorded: 2, directoryCapDrops: 3, dropped: 0, directories: 2 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/holds 2 stream\/worker directories.*first cam-1\/w2, .*still delivered live/);
    expect(await readdir(join(directory, 'cam-1'))).toEqual(['w1']);
  });

  it('removes the directories retention emptied, making room under maxDirectories again', async () => {
    let now = Date.parse('2024-03-05T06:07:08Z');
    const recorder = new ResultRecorder({ directory, maxDirectories: 1, retention: { maxAgeMs: 60_000 }, clock: () => now });
    const hub = new ResultHub();
    hub.addTap((p) => recorder.record(p));
    hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { workerId: 'old' }));
    await recorder.flush();
    hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { workerId: 'new', frameSequence: 2 }));
    expect(recorder.stats().directoryCapDrops).toBe(1);

    // Idle: the first sweep closes the archive, the next deletes its old segment and its directories.
    now += IDLE_ARCHIVE_CLOSE_MS;
    await recorder.sweep();
    await recorder.flush();
    for (const bin of await listBins(directory)) {
      const hourAgo = new Date(now - 3_600_000);
      for (const file of Object.values(segmentFiles(bin))) await utimes(file, hourAgo, hourAgo).catch(() => undefined);
    }
    await recorder.sweep();
    expect(await readdir(directory)).toEqual([]);
    expect(recorder.stats().directories).toBe(0);

    hub.publish(exampleResult(K.RESULT_KIND_TRACKS, { workerId: 'new', frameSequence: 3 }));
    await recorder.close();
    expect(recorder.stats()).toMatchObject({ recorded: 2, directoryCapDrops: 1, directories: 1 });
    expect((await collect(replayResults({ directory, streamId: 'cam-1' }))).map((r) => r.workerId)).toEqual(['new']);
  });
});
