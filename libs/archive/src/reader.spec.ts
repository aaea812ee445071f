import { appendFile, copyFile, readFile, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { prefixLength } from '@framewire/framing';
import { KeyPointsDecoder, KeyPointsFrame } from '@framewire/overlay-codecs';
import {
  ArchiveCorruptError,
  ArchiveEvent,
  ArchiveFrame,
  ArchiveMetadataError,
  ArchiveProtocol,
  ArchiveWriter,
  ArchiveWriterOptions,
  ReadArchiveOptions,
  listSegments,
  loadIndex,
  readArchive,
  rebuildIndex,
  segmentFiles,
} from './index';
import { keypointsPayloads, segmentationPayloads, withTempDir } from './testing/fixtures';

type WriteOptions = Partial<ArchiveWriterOptions> & { timestamps?: readonly number[] };

/** Writes `payloads` as stream `s` of base `rec` and returns the segment paths in order. */
async function writeArchive(directory: string, protocol: ArchiveProtocol, payloads: readonly Uint8Array[], options: WriteOptions = {}): Promise<string[]> {
  const writer = await ArchiveWriter.open({ directory, baseName: 'rec', streamId: 's', protocol, durability: { kind: 'on-close' }, ...options });
  for (let i = 0; i < payloads.length; i++) await writer.append(payloads[i], { timestampMs: options.timestamps?.[i] });
  await writer.close();
  return (await listSegments(directory, 'rec', 's')).map((segment) => segment.path);
}

async function readAll(source: Parameters<typeof readArchive>[0], options: ReadArchiveOptions = {}): Promise<{ frames: ArchiveFrame[]; events: ArchiveEvent[] }> {
  const reader = readArchive(source, options);
  const frames: ArchiveFrame[] = [];
  for await (const frame of reader) frames.push(frame);
  return { frames, events: reader.events };
}

/** Offsets of the frames of a varint file, from a full read. */
async function frameOffsets(path: string): Promise<number[]> {
  return (await readAll(path)).frames.map((frame) => frame.offset);
}

describe('readArchive', () => {
  it('yields every frame of every segment in order with its offset, segment and decoded keypoints', () =>
    withTempDir(async (directory) => {
      const payloads = keypointsPayloads(45, { masterInterval: 10 });
      const segments = await writeArchive(directory, 'keypoints', payloads, { rotation: { maxSegmentBytes: 400 } });
      expect(segments.length).toBeGreaterThan(1);
      const { frames, events } = await readAll({ directory, baseName: 'rec', streamId: 's' });
      expect(events).toEqual([]);
      expect(frames.map((f) => Uint8Array.from(f.payload))).toEqual(payloads);
      const decoder = new KeyPointsDecoder();
      expect(frames.map((f) => (f.decoded as KeyPointsFrame).keypoints)).toEqual(payloads.map((p) => decoder.decode(p).keypoints));
      expect(frames[0]).toMatchObject({ offset: 0, segment: segments[0], frameNumber: 0, frameId: 0n, seekPoint: true });
      expect(new Set(frames.map((f) => f.segment))).toEqual(new Set(segments));
    }));

  it('reads each keypoints segment on its own to the same decoded frames as the whole archive', () =>
    withTempDir(async (directory) => {
      const payloads = keypointsPayloads(60, { masterInterval: 7 });
      const segments = await writeArchive(directory, 'keypoints', payloads, { rotation: { maxSegmentBytes: 300 } });
      const whole = (await readAll(segments)).frames;
      for (const segment of segments) {
        const alone = (await readAll(segment)).frames;
        expect(alone.map((f) => f.decoded)).toEqual(whole.filter((f) => f.segment === segment).map((f) => f.decoded));
      }
    }));

  it('reads a .bin without sidecar when told the protocol, and refuses a contradicting one', () =>
    withTempDir(async (directory) => {
      const [segment] = await writeArchive(directory, 'segmentation', segmentationPayloads(3));
      await expect(readAll(segment, { protocol: 'keypoints' })).rejects.toThrow(ArchiveMetadataError);
      const bare = join(directory, 'bare.bin');
      await copyFile(segment, bare);
      await expect(readAll(bare)).rejects.toThrow(/pass the protocol/);
      expect((await readAll(bare, { protocol: 'segmentation' })).frames).toHaveLength(3);
    }));

  describe('seeking', () => {
    it('by frame id yields exactly what a full scan yields from the first frame with id >= target', async () => {
      await withTempDir(async (directory) => {
        // Ids with gaps, over several segments, keypoints so seeks must start at a master.
        const payloads = keypointsPayloads(120, { masterInterval: 9 }).map((payload, i) => {
          const copy = Uint8Array.from(payload);
          new DataView(copy.buffer).setBigUint64(1, BigInt(1000 + 3 * i), true);
          return copy;
        });
        const segments = await writeArchive(directory, 'keypoints', payloads, { rotation: { maxSegmentBytes: 900 }, indexEveryFrames: 4 });
        expect(segments.length).toBeGreaterThan(2);
        const full = (await readAll(segments)).frames;
        await fc.assert(
          fc.asyncProperty(fc.bigInt({ min: 990n, max: 1400n }), async (target) => {
            const { frames } = await readAll(segments, { seek: { frameId: target } });
            const expected = full.filter((f) => f.frameId >= target);
            expect(frames.map((f) => [f.segment, f.offset, f.frameId])).toEqual(expected.map((f) => [f.segment, f.offset, f.frameId]));
            expect(frames.map((f) => f.decoded)).toEqual(expected.map((f) => f.decoded));
          }),
          { numRuns: 40 },
        );
      });
    });

    it('by time starts at the last indexed frame at or before the time, decoding keypoints from a master', () =>
      withTempDir(async (directory) => {
        const payloads = keypointsPayloads(50, { masterInterval: 20 });
        const timestamps = payloads.map((_, i) => 10_000 + 100 * i);
        const segments = await writeArchive(directory, 'keypoints', payloads, { timestamps, indexEveryFrames: 5 });
        const full = (await readAll(segments)).frames;
        for (const [target, firstFrame] of [
          [0, 0],
          [10_000, 0],
          [10_450, 0],
          [10_500, 5],
          [12_345, 20],
          [13_099, 30],
          [14_850, 45],
          [99_999, 49], // the writer indexes the last frame of a segment at close
        ]) {
          const { frames } = await readAll(segments, { seek: { timestampMs: target } });
          expect(frames[0].frameNumber).toBe(firstFrame);
          expect(frames.map((f) => f.decoded)).toEqual(full.slice(firstFrame).map((f) => f.decoded));
        }
      }));

    it('rebuilds a missing index by scanning, and writes it back when asked', () =>
      withTempDir(async (directory) => {
        const [segment] = await writeArchive(directory, 'segmentation', segmentationPayloads(40), { indexEveryFrames: 8 });
        const indexPath = segmentFiles(segment).index;
        const before = await loadIndex(indexPath);
        await unlink(indexPath);
        const { frames, events } = await readAll(segment, { seek: { frameId: 17n }, rewriteIndex: true });
        expect(frames[0].frameId).toBe(17n);
        expect(events).toEqual([{ kind: 'index-rebuilt', segment, status: 'missing' }]);
        const after = await loadIndex(indexPath);
        if (before.status !== 'loaded' || after.status !== 'loaded') throw new Error('index not loaded');
        expect(after.index.covered).toEqual(before.index.covered);
        // Scanning cannot recover times a segmentation payload does not carry.
        expect(after.index.entries.map((e) => [e.offset, e.frameId, e.timestampMs])).toEqual(
          before.index.entries.filter((e) => e.frameNumber % 8 === 0).map((e) => [e.offset, e.frameId, null]),
        );
        expect((await readAll(segment, { seek: { frameId: 17n } })).events).toEqual([]);
      }));

    it('detects a stale index by the size it covers and extends it from there, keeping its times', () =>
      withTempDir(async (directory) => {
        const payloads = segmentationPayloads(30);
        const timestamps = payloads.map((_, i) => 5000 + i);
        const [segment] = await writeArchive(directory, 'segmentation', payloads, { timestamps, indexEveryFrames: 4 });
        const indexPath = segmentFiles(segment).index;
        // Keep the header, the first entries and a checkpoint after them: as if the writer died.
        const offsets = await frameOffsets(segment);
        const lines = (await readFile(indexPath, 'utf8')).split('\n');
        await writeFile(indexPath, `${lines.slice(0, 3).join('\n')}\n${JSON.stringify({ kind: 'checkpoint', bytes: offsets[9], frames: 9 })}\n`);
        const { frames, events } = await readAll(segment, { seek: { timestampMs: 5013 } });
        expect(events).toEqual([{ kind: 'index-rebuilt', segment, status: 'stale' }]);
        // Entries past the checkpoint were rebuilt without times, so the seek lands on the last timed one.
        expect(frames[0].frameNumber).toBe(4);
      }));

    it('rebuilds from the start an index that covers more than the truncated file holds', () =>
      withTempDir(async (directory) => {
        const [segment] = await writeArchive(directory, 'segmentation', segmentationPayloads(10));
        const offsets = await frameOffsets(segment);
        await truncate(segment, offsets[6]);
        const { frames, events } = await readAll(segment, { seek: { frameId: 2n } });
        expect(frames.map((f) => f.frameId)).toEqual([2n, 3n, 4n, 5n]);
        expect(events).toEqual([{ kind: 'index-rebuilt', segment, status: 'stale' }]);
      }));
  });

  describe('torn tails', () => {
    for (const framing of ['varint', 'u32le'] as const) {
      it(`yields every earlier frame and a torn-tail event for a cut at every offset of the last frame (${framing})`, () =>
        withTempDir(async (directory) => {
          // The last payload is over 127 bytes, so its varint prefix has two bytes to cut between.
          const payloads = [...segmentationPayloads(4, { pointCount: 3 }), ...segmentationPayloads(1, { firstId: 4, pointCount: 60 })];
          const [segment] = await writeArchive(directory, 'segmentation', payloads, { framing });
          const whole = await readFile(segment);
          const last = payloads[payloads.length - 1];
          const lastOffset = whole.length - last.length - prefixLength(framing, last.length);
          const prefixBytes = prefixLength(framing, last.length);
          const torn = join(directory, 'torn.bin');
          for (let cut = lastOffset; cut < whole.length; cut++) {
            await writeFile(torn, whole.subarray(0, cut));
            const { frames, events } = await readAll(torn, { protocol: 'segmentation', framing });
            expect(frames.map((f) => Uint8Array.from(f.payload))).toEqual(payloads.slice(0, -1));
            const available = cut - lastOffset;
            if (available === 0) {
              expect(events).toEqual([]);
            } else if (available < prefixBytes) {
              expect(events).toEqual([{ kind: 'torn-tail', segment: torn, reason: 'truncated-prefix', offset: lastOffset, expected: -1, available }]);
            } else {
              expect(events).toEqual([
                { kind: 'torn-tail', segment: torn, reason: 'truncated-payload', offset: lastOffset, expected: prefixBytes + last.length, available },
              ]);
            }
          }
        }));
    }

    it('reports zeros from a frame boundary to the end as a zero-fill torn tail', () =>
      withTempDir(async (directory) => {
        const payloads = segmentationPayloads(3);
        const [segment] = await writeArchive(directory, 'segmentation', payloads);
        const size = (await readFile(segment)).length;
        await appendFile(segment, Buffer.alloc(4096));
        const { frames, events } = await readAll(segment);
        expect(frames).toHaveLength(3);
        expect(events).toEqual([{ kind: 'torn-tail', segment, reason: 'zero-fill', offset: size, expected: -1, available: 4096 }]);
      }));

    it('reports a last frame that is complete but does not decode as an undecodable-tail torn tail', () =>
      withTempDir(async (directory) => {
        const payloads = keypointsPayloads(5);
        const [segment] = await writeArchive(directory, 'keypoints', payloads);
        const bytes = await readFile(segment);
        const offsets = await frameOffsets(segment);
        bytes[offsets[4] + 1] = 0x09; // frame type of the last frame
        await writeFile(segment, bytes);
        const { frames, events } = await readAll(segment);
        expect(frames).toHaveLength(4);
        expect(events).toEqual([
          expect.objectContaining({ kind: 'torn-tail', reason: 'undecodable-tail', offset: offsets[4], available: bytes.length - offsets[4] }),
        ]);
      }));

    it('goes on with the next segment after a torn tail', () =>
      withTempDir(async (directory) => {
        const payloads = segmentationPayloads(30);
        const segments = await writeArchive(directory, 'segmentation', payloads, { rotation: { maxSegmentBytes: 300 } });
        const firstOffsets = await frameOffsets(segments[0]);
        await truncate(segments[0], firstOffsets[firstOffsets.length - 1] + 3);
        const { frames, events } = await readAll(segments);
        expect(frames).toHaveLength(29);
        expect(events).toEqual([expect.objectContaining({ kind: 'torn-tail', segment: segments[0], offset: firstOffsets[firstOffsets.length - 1] })]);
      }));
  });

  describe('corruption', () => {
    const cases: Array<[string, (bytes: Buffer, offset: number) => Buffer, string]> = [
      ['a varint prefix longer than 5 bytes', (b, o) => Buffer.concat([b.subarray(0, o), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), b.subarray(o)]), 'varint-too-long'],
      ['a length over the frame size limit', (b, o) => Buffer.concat([b.subarray(0, o), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), b.subarray(o)]), 'frame-too-large'],
      ['a zero length followed by other bytes', (b, o) => Buffer.concat([b.subarray(0, o), Buffer.from([0x00]), b.subarray(o)]), 'empty-frame'],
      [
        'a payload that does not decode',
        (b, o) => {
          const copy = Buffer.from(b);
          copy[o + 1] = 0x05; // keypoints frame type
          return copy;
        },
        'undecodable-payload',
      ],
    ];
    for (const [name, corrupt, reason] of cases) {
      it(`throws ArchiveCorruptError (${reason}) at the offset of ${name}, after every frame before it`, () =>
        withTempDir(async (directory) => {
          const payloads = keypointsPayloads(10);
          const [segment] = await writeArchive(directory, 'keypoints', payloads);
          const offsets = await frameOffsets(segment);
          await writeFile(segment, corrupt(await readFile(segment), offsets[6]));
          const reader = readArchive(segment);
          const seen: bigint[] = [];
          let failure: unknown;
          try {
            for await (const frame of reader) seen.push(frame.frameId);
          } catch (error) {
            failure = error;
          }
          expect(seen).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
          expect(failure).toBeInstanceOf(ArchiveCorruptError);
          expect(failure).toMatchObject({ code: 'ARCHIVE_CORRUPT', reason, offset: offsets[6], path: segment });
          expect((failure as Error).message).toContain(`at offset ${offsets[6]}`);
        }));
    }

    it('never throws anything but ArchiveCorruptError on arbitrary bytes', () =>
      withTempDir(async (directory) => {
        const path = join(directory, 'random.bin');
        for (const protocol of ['keypoints', 'segmentation', 'stage', 'result'] as const) {
          await fc.assert(
            fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
              await writeFile(path, bytes);
              try {
                await readAll(path, { protocol, maxFrameBytes: 1000 });
              } catch (error) {
                expect(error).toBeInstanceOf(ArchiveCorruptError);
              }
            }),
            { numRuns: 150 },
          );
        }
      }));
  });
});

describe('rebuildIndex', () => {
  it('writes a fresh index for a .bin that has none, covering the whole file', () =>
    withTempDir(async (directory) => {
      const [segment] = await writeArchive(directory, 'keypoints', keypointsPayloads(25, { masterInterval: 10 }), { indexEveryFrames: 100 });
      await unlink(segmentFiles(segment).index);
      const rebuilt = await rebuildIndex(segment);
      expect(rebuilt.status).toBe('missing');
      const load = await loadIndex(segmentFiles(segment).index);
      if (load.status !== 'loaded') throw new Error(load.status);
      expect(load.index.covered).toEqual({ bytes: (await readFile(segment)).length, frames: 25 });
      // Every master, the only frames a keypoints reader can start at.
      expect(load.index.entries.map((e) => [e.frameNumber, e.seekPoint])).toEqual([
        [0, true],
        [10, true],
        [20, true],
      ]);
    }));
});
