import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { EmptyFrameError, FrameTooLargeError, decodeFrames } from '@framewire/framing';
import { KeyPointsDecoder, KeyPointsEncoder, KeyPointsSink, parseKeyPointsSidecar } from '@framewire/overlay-codecs';
import {
  ArchiveBusyError,
  ArchiveClosedError,
  ArchiveConfigError,
  ArchiveMetadataError,
  ArchiveWriter,
  ArchiveWriterOptions,
  DurableMark,
  InvalidPayloadError,
  MasterRequiredError,
  SegmentStart,
  listSegments,
  loadIndex,
  readArchive,
  readMetadata,
  segmentFiles,
} from './index';
import { keypointsPayloads, resultPayload, segmentationPayloads, withTempDir } from './testing/fixtures';

async function writeAll(options: ArchiveWriterOptions, payloads: readonly Uint8Array[], timestamps?: readonly number[]): Promise<ArchiveWriter> {
  const writer = await ArchiveWriter.open(options);
  for (let i = 0; i < payloads.length; i++) await writer.append(payloads[i], { timestampMs: timestamps?.[i] });
  await writer.close();
  return writer;
}

async function framesOf(path: string): Promise<Uint8Array[]> {
  return decodeFrames(await readFile(path)).map((frame) => Uint8Array.from(frame.payload));
}

describe('ArchiveWriter', () => {
  it('writes a plain varint-framed .bin that a framing reader decodes to the same payloads', () =>
    withTempDir(async (directory) => {
      const payloads = segmentationPayloads(20, { pointCount: 40 });
      await writeAll({ directory, baseName: 'rec', streamId: 'cam-1', protocol: 'segmentation' }, payloads);
      const [segment] = await listSegments(directory, 'rec', 'cam-1');
      expect(await framesOf(segment.path)).toEqual(payloads.map((p) => Uint8Array.from(p)));
    }));

  it('writes u32le prefixes when asked', () =>
    withTempDir(async (directory) => {
      const payloads = segmentationPayloads(3);
      await writeAll({ directory, baseName: 'rec', streamId: 's', protocol: 'segmentation', framing: 'u32le' }, payloads);
      const [segment] = await listSegments(directory, 'rec', 's');
      const bytes = await readFile(segment.path);
      expect(bytes.readUInt32LE(0)).toBe(payloads[0].length);
      expect(decodeFrames(bytes, { framing: 'u32le' }).map((f) => Uint8Array.from(f.payload))).toEqual(payloads);
    }));

  it('names segments <base>-<stream>-<UTC stamp>-<seq>.bin and writes the sidecars beside them', () =>
    withTempDir(async (directory) => {
      const clock = (): number => Date.UTC(2024, 2, 5, 6, 7, 8, 900);
      await writeAll(
        {
          directory,
          baseName: 'rec',
          streamId: 'cam-1',
          protocol: 'keypoints',
          clock,
          computeModuleName: 'pose-v8',
          pointNames: { nose: 0, left_eye: 1 },
        },
        keypointsPayloads(3),
      );
      expect((await readdir(directory)).sort()).toEqual([
        'rec-cam-1-20240305T060708Z-000000.bin',
        'rec-cam-1-20240305T060708Z-000000.fw.json',
        'rec-cam-1-20240305T060708Z-000000.idx',
        'rec-cam-1-20240305T060708Z-000000.json',
      ]);
      const files = segmentFiles(join(directory, 'rec-cam-1-20240305T060708Z-000000.bin'));
      expect(await readMetadata(files.metadata)).toEqual({
        format: 'framewire-archive',
        formatVersion: 1,
        protocol: 'keypoints',
        framing: 'varint',
        streamId: 'cam-1',
        timeBase: 'unix-ms',
        createdAt: '2024-03-05T06:07:08.900Z',
        baseName: 'rec',
        segmentSeq: 0,
        computeModuleName: 'pose-v8',
        indexEveryFrames: 30,
      });
      const sidecar = JSON.parse(await readFile(files.points, 'utf8'));
      expect(sidecar).toEqual({ version: '1.0', compute_module_name: 'pose-v8', points: { nose: 0, left_eye: 1 } });
      expect(parseKeyPointsSidecar(await readFile(files.points, 'utf8')).points).toEqual({ nose: 0, left_eye: 1 });
    }));

  it('rewrites the point sidecar of the current segment, and of later ones, with new point names', () =>
    withTempDir(async (directory) => {
      let now = Date.UTC(2024, 2, 5, 6, 7, 8);
      const writer = await ArchiveWriter.open({ directory, baseName: 'kp', streamId: 'cam-1', protocol: 'keypoints', computeModuleName: 'w1', rotation: { maxSegmentAgeMs: 1000 }, clock: () => now });
      const [first, second] = keypointsPayloads(2, { masterInterval: 1 });
      await writer.append(first);
      const before = segmentFiles(writer.segmentPath);
      // No names yet: no sidecar.
      await expect(readFile(before.points, 'utf8')).rejects.toThrow(/ENOENT/);
      await writer.setPointNames({ 't1.centroid': 8 });
      expect(parseKeyPointsSidecar(await readFile(before.points, 'utf8'))).toMatchObject({ computeModuleName: 'w1', points: { 't1.centroid': 8 } });
      await writer.setPointNames({ 't1.centroid': 8, 't2.centroid': 16 });
      expect(parseKeyPointsSidecar(await readFile(before.points, 'utf8')).points).toEqual({ 't1.centroid': 8, 't2.centroid': 16 });
      now += 2000;
      await writer.append(second);
      const after = segmentFiles(writer.segmentPath);
      expect(after.bin).not.toBe(before.bin);
      expect(parseKeyPointsSidecar(await readFile(after.points, 'utf8')).points).toEqual({ 't1.centroid': 8, 't2.centroid': 16 });
      await writer.close();
      await expect(writer.setPointNames({ a: 1 })).rejects.toBeInstanceOf(ArchiveClosedError);
      const results = await ArchiveWriter.open({ directory, baseName: 'r', streamId: 'cam-1', protocol: 'result' });
      await expect(results.setPointNames({ a: 1 })).rejects.toThrow(/keypoints archives only/);
      await results.close();
    }));

  it('continues the sequence number after existing segments when not appending', () =>
    withTempDir(async (directory) => {
      const options = { directory, baseName: 'rec', streamId: 's', protocol: 'segmentation' as const };
      await writeAll(options, segmentationPayloads(2));
      await writeAll(options, segmentationPayloads(2, { firstId: 2 }));
      expect((await listSegments(directory, 'rec', 's')).map((s) => s.seq)).toEqual([0, 1]);
    }));

  it('refuses a second writer of an open archive, and numbers the next segment after the first closed', () =>
    withTempDir(async (directory) => {
      const options = { directory, baseName: 'rec', streamId: 's', protocol: 'segmentation' as const };
      const first = await ArchiveWriter.open(options);
      const second = ArchiveWriter.open({ ...options, directory: join(directory, '.') });
      await expect(second).rejects.toBeInstanceOf(ArchiveBusyError);
      await expect(second).rejects.toThrow(`archive rec of stream s in ${directory}`);
      // Another stream or base name in the same directory is another archive.
      const other = await ArchiveWriter.open({ ...options, streamId: 't' });
      await first.append(segmentationPayloads(1)[0]);
      await Promise.all([first.close(), other.close()]);
      await writeAll(options, segmentationPayloads(1));
      expect((await listSegments(directory, 'rec', 's')).map((s) => s.seq)).toEqual([0, 1]);
    }));

  it('reports every frame durable right after its append under every-frame', () =>
    withTempDir(async (directory) => {
      const marks: DurableMark[] = [];
      const writer = await ArchiveWriter.open({
        directory,
        baseName: 'rec',
        streamId: 's',
        protocol: 'segmentation',
        durability: { kind: 'every-frame' },
        onDurable: (mark) => marks.push(mark),
      });
      for (const [i, payload] of segmentationPayloads(5).entries()) {
        await writer.append(payload);
        expect(writer.durableFrames).toBe(i + 1);
        expect(marks[marks.length - 1]).toMatchObject({ frames: i + 1, bytes: writer.bytesWritten, writerFrames: i + 1 });
      }
      await writer.close();
      expect(marks).toHaveLength(5);
    }));

  it('syncs on a timer under interval, and not before close under on-close', () =>
    withTempDir(async (directory) => {
      const intervalMarks: DurableMark[] = [];
      const interval = await ArchiveWriter.open({
        directory,
        baseName: 'int',
        streamId: 's',
        protocol: 'segmentation',
        durability: { kind: 'interval', ms: 20 },
        onDurable: (mark) => intervalMarks.push(mark),
      });
      await interval.append(segmentationPayloads(1)[0]);
      expect(interval.durableFrames).toBe(0);
      const deadline = Date.now() + 2000;
      while (interval.durableFrames === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(interval.durableFrames).toBe(1);
      expect(intervalMarks).toEqual([expect.objectContaining({ frames: 1 })]);
      await interval.close();

      const onCloseMarks: DurableMark[] = [];
      const onClose = await ArchiveWriter.open({
        directory,
        baseName: 'oc',
        streamId: 's',
        protocol: 'segmentation',
        durability: { kind: 'on-close' },
        onDurable: (mark) => onCloseMarks.push(mark),
      });
      for (const payload of segmentationPayloads(3)) await onClose.append(payload);
      await new Promise((r) => setTimeout(r, 30));
      expect(onCloseMarks).toEqual([]);
      await onClose.close();
      expect(onCloseMarks).toEqual([expect.objectContaining({ frames: 3 })]);
    }));

  it('rotates by size at frame boundaries, never letting a segment exceed the limit', () =>
    withTempDir(async (directory) => {
      const payloads = segmentationPayloads(50, { pointCount: 20 });
      const limit = 700;
      const started: SegmentStart[] = [];
      await writeAll(
        { directory, baseName: 'rec', streamId: 's', protocol: 'segmentation', rotation: { maxSegmentBytes: limit }, onSegmentStarted: (s) => started.push(s) },
        payloads,
      );
      const segments = await listSegments(directory, 'rec', 's');
      expect(segments.length).toBeGreaterThan(3);
      expect(started.map((s) => s.path)).toEqual(segments.map((s) => s.path));
      const all: Uint8Array[] = [];
      for (const segment of segments) {
        const bytes = await readFile(segment.path);
        expect(bytes.length).toBeLessThanOrEqual(limit);
        all.push(...(await framesOf(segment.path)));
      }
      expect(all).toEqual(payloads);
    }));

  it('rotates by age with an injected clock', () =>
    withTempDir(async (directory) => {
      let now = Date.UTC(2024, 0, 1);
      const writer = await ArchiveWriter.open({
        directory,
        baseName: 'rec',
        streamId: 's',
        protocol: 'segmentation',
        rotation: { maxSegmentAgeMs: 1000 },
        clock: () => now,
      });
      const payloads = segmentationPayloads(10);
      for (const payload of payloads) {
        await writer.append(payload);
        now += 300; // frames at 0, 300, 600, 900 | 1200 ... : four per segment
      }
      await writer.close();
      const segments = await listSegments(directory, 'rec', 's');
      expect(await Promise.all(segments.map(async (s) => (await framesOf(s.path)).length))).toEqual([4, 4, 2]);
      expect(segments.map((s) => s.createdAtMs)).toEqual([Date.UTC(2024, 0, 1), Date.UTC(2024, 0, 1, 0, 0, 1), Date.UTC(2024, 0, 1, 0, 0, 2)]);
    }));

  it('starts every keypoints segment at a master: a due rotation waits for one', () =>
    withTempDir(async (directory) => {
      let due = 0;
      const payloads = keypointsPayloads(40, { masterInterval: 10 });
      await writeAll(
        { directory, baseName: 'kp', streamId: 's', protocol: 'keypoints', rotation: { maxSegmentBytes: 200 }, onRotationDue: () => due++ },
        payloads,
      );
      const segments = await listSegments(directory, 'kp', 's');
      expect(segments).toHaveLength(4);
      // Each segment reaches the limit within its first frames; the last one's rotation never comes.
      expect(due).toBe(4);
      for (const segment of segments) {
        const frames = await framesOf(segment.path);
        expect(frames).toHaveLength(10);
        expect(frames[0][0]).toBe(0x00);
      }
    }));

  it('lets a keypoints caller rotate at the next frame by starting a new encoder when rotation is due', () =>
    withTempDir(async (directory) => {
      let encoder = new KeyPointsEncoder({ masterInterval: 1000 });
      const writer = await ArchiveWriter.open({
        directory,
        baseName: 'kp',
        streamId: 's',
        protocol: 'keypoints',
        rotation: { maxSegmentBytes: 300 },
        onRotationDue: () => {
          encoder = new KeyPointsEncoder({ masterInterval: 1000 });
        },
      });
      for (let i = 0; i < 60; i++) {
        const payload = encoder.encodeFrame(BigInt(i), [{ id: 1, x: i, y: 2 * i, confidence: 0.9 }]).slice();
        await writer.append(payload);
      }
      await writer.close();
      const segments = await listSegments(directory, 'kp', 's');
      expect(segments.length).toBeGreaterThan(2);
      for (const segment of segments) {
        // At most one delta past the limit: the one that found the rotation due.
        expect((await readFile(segment.path)).length).toBeLessThanOrEqual(300 + 20);
        expect((await framesOf(segment.path))[0][0]).toBe(0x00);
      }
    }));

  it('accepts frames from the protocol library KeyPointsSink as a FrameSink', () =>
    withTempDir(async (directory) => {
      const writer = await ArchiveWriter.open({ directory, baseName: 'kp', streamId: 's', protocol: 'keypoints' });
      const sink = new KeyPointsSink(writer, { masterInterval: 5 });
      for (let i = 0; i < 12; i++) await sink.beginFrame(BigInt(100 + i)).add(7, i, -i, 0.5).commit();
      await sink.close();
      const decoder = new KeyPointsDecoder();
      const [segment] = await listSegments(directory, 'kp', 's');
      const decoded = (await framesOf(segment.path)).map((payload) => decoder.decode(payload));
      expect(decoded.map((f) => [f.frameId, f.keypoints[0].x])).toEqual(Array.from({ length: 12 }, (_, i) => [BigInt(100 + i), i]));
    }));

  it('refuses a keypoints delta as the first frame of a segment', () =>
    withTempDir(async (directory) => {
      const [, delta] = keypointsPayloads(2, { masterInterval: 10 });
      const writer = await ArchiveWriter.open({ directory, baseName: 'kp', streamId: 's', protocol: 'keypoints' });
      await expect(writer.append(delta)).rejects.toBeInstanceOf(MasterRequiredError);
      expect(writer.bytesWritten).toBe(0);
      await writer.close();
    }));

  it('refuses empty, oversized and malformed payloads without writing anything', () =>
    withTempDir(async (directory) => {
      const writer = await ArchiveWriter.open({ directory, baseName: 'kp', streamId: 's', protocol: 'keypoints', maxFrameBytes: 64 });
      await expect(writer.append(new Uint8Array(0))).rejects.toBeInstanceOf(EmptyFrameError);
      await expect(writer.append(new Uint8Array(65))).rejects.toBeInstanceOf(FrameTooLargeError);
      const badType = new Uint8Array(12);
      badType[0] = 0x07;
      await expect(writer.append(badType)).rejects.toThrow(InvalidPayloadError);
      await expect(writer.append(badType)).rejects.toThrow(/frame type 0x07 at payload offset 0 of the frame at offset 0 of .*\.bin/);
      expect(writer.bytesWritten).toBe(0);
      await writer.close();
    }));

  it('rejects appends after close and closes only once', () =>
    withTempDir(async (directory) => {
      const writer = await ArchiveWriter.open({ directory, baseName: 'rec', streamId: 's', protocol: 'segmentation' });
      const first = writer.append(segmentationPayloads(1)[0]);
      const closed = writer.close();
      await expect(first).resolves.toMatchObject({ frameNumber: 0 });
      await closed;
      await writer.close();
      await expect(writer.append(segmentationPayloads(1)[0])).rejects.toBeInstanceOf(ArchiveClosedError);
    }));

  it('rejects invalid options naming the option and value', async () => {
    const base = { directory: '/nonexistent', streamId: 's', protocol: 'segmentation' as const };
    await expect(ArchiveWriter.open({ ...base, baseName: 'a-b' })).rejects.toThrow(ArchiveConfigError);
    await expect(ArchiveWriter.open({ ...base, baseName: 'a', streamId: 'x/y' })).rejects.toThrow(/streamId "x\/y"/);
    await expect(ArchiveWriter.open({ ...base, baseName: 'a', durability: { kind: 'interval', ms: 0 } })).rejects.toThrow(/durability.ms must be a positive integer, got 0/);
    await expect(ArchiveWriter.open({ ...base, baseName: 'a', rotation: { maxSegmentBytes: -1 } })).rejects.toThrow(/maxSegmentBytes/);
    await expect(ArchiveWriter.open({ ...base, baseName: 'a', pointNames: { a: 1 } })).rejects.toThrow(/keypoints archives only/);
  });

  it('in append mode continues the newest segment, requiring a keypoints master first', () =>
    withTempDir(async (directory) => {
      const options = { directory, baseName: 'kp', streamId: 's', protocol: 'keypoints' as const };
      const first = keypointsPayloads(7, { masterInterval: 5 });
      await writeAll(options, first);
      const starts: SegmentStart[] = [];
      const writer = await ArchiveWriter.open({ ...options, append: true, onSegmentStarted: (s) => starts.push(s) });
      expect(starts).toEqual([expect.objectContaining({ reopened: true, frames: 7, seq: 0, repairedTornTail: undefined })]);
      expect(writer.masterRequired).toBe(true);
      const more = keypointsPayloads(6, { masterInterval: 5, firstId: 7, seed: 2 });
      await expect(writer.append(more[1])).rejects.toBeInstanceOf(MasterRequiredError);
      for (const payload of more) await writer.append(payload);
      await writer.close();
      const segments = await listSegments(directory, 'kp', 's');
      expect(segments).toHaveLength(1);
      expect(await framesOf(segments[0].path)).toEqual([...first, ...more]);
      const load = await loadIndex(segmentFiles(segments[0].path).index);
      expect(load.status === 'loaded' && load.index.covered.frames).toBe(13);
    }));

  it('refuses to append to a segment of another protocol', () =>
    withTempDir(async (directory) => {
      await writeAll({ directory, baseName: 'rec', streamId: 's', protocol: 'segmentation' }, segmentationPayloads(1));
      await expect(ArchiveWriter.open({ directory, baseName: 'rec', streamId: 's', protocol: 'stage', append: true })).rejects.toThrow(
        ArchiveMetadataError,
      );
    }));

  it('indexes frame 0, every N-th frame and the last frame, with the given timestamps and Result times', () =>
    withTempDir(async (directory) => {
      const payloads = Array.from({ length: 12 }, (_, i) => resultPayload(BigInt(1000 + i), BigInt(5_000_000 + i * 1000)));
      await writeAll({ directory, baseName: 'res', streamId: 's', protocol: 'result', indexEveryFrames: 5 }, payloads);
      const [segment] = await listSegments(directory, 'res', 's');
      const load = await loadIndex(segmentFiles(segment.path).index);
      if (load.status !== 'loaded') throw new Error(load.status);
      expect(load.index.entries.map((e) => [e.frameNumber, e.frameId, e.timestampMs])).toEqual([
        [0, 1000n, 5000],
        [5, 1005n, 5005],
        [10, 1010n, 5010],
        [11, 1011n, 5011],
      ]);
      expect(load.index.covered).toEqual({ bytes: (await readFile(segment.path)).length, frames: 12 });
      const read = [];
      for await (const frame of readArchive(segment.path)) read.push(frame.frameId);
      expect(read).toEqual(payloads.map((_, i) => BigInt(1000 + i)));
    }));

  it('indexes only frames an fdatasync has covered, so the index never describes bytes a crash could lose', () =>
    withTempDir(async (directory) => {
      const writer = await ArchiveWriter.open({
        directory,
        baseName: 'rec',
        streamId: 's',
        protocol: 'segmentation',
        durability: { kind: 'on-close' },
        indexEveryFrames: 2,
      });
      for (const payload of segmentationPayloads(6)) await writer.append(payload);
      const indexPath = segmentFiles(writer.segmentPath).index;
      expect((await readFile(indexPath, 'utf8')).trim().split('\n')).toHaveLength(1); // the header
      await writer.sync();
      const load = await loadIndex(indexPath);
      expect(load.status === 'loaded' && [load.index.entries.length, load.index.covered.frames]).toEqual([3, 6]);
      await writer.close();
    }));

  it('reads back any payload sequence under any size limit, keypoints segments each starting at a master', () =>
    fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 40, max: 2000 }), fc.integer({ min: 1, max: 12 }), (count, limit, interval) =>
        withTempDir(async (directory) => {
          const payloads = keypointsPayloads(count, { masterInterval: interval, seed: count * limit });
          await writeAll({ directory, baseName: 'kp', streamId: 's', protocol: 'keypoints', durability: { kind: 'on-close' }, rotation: { maxSegmentBytes: limit } }, payloads);
          const read: Uint8Array[] = [];
          for (const segment of await listSegments(directory, 'kp', 's')) {
            const frames = await framesOf(segment.path);
            expect(frames[0][0]).toBe(0x00);
            read.push(...frames);
          }
          expect(read).toEqual(payloads);
        }),
      ),
      { numRuns: 25 },
    ));
});
