import { appendFile, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { ArchiveWriter, listSegments, readArchive, repairTornTail, verifyArchive } from './index';
import { keypointsPayloads, resultPayload, segmentationPayloads, withTempDir } from './testing/fixtures';

async function onlySegment(directory: string): Promise<string> {
  const [segment] = await listSegments(directory, 'rec', 's');
  return segment.path;
}

describe('verifyArchive', () => {
  it('reports frames, masters, first and last frame id and time, and a fresh index for a clean keypoints file', () =>
    withTempDir(async (directory) => {
      const writer = await ArchiveWriter.open({ directory, baseName: 'rec', streamId: 's', protocol: 'keypoints', pointNames: { nose: 0 } });
      const payloads = keypointsPayloads(25, { masterInterval: 10, firstId: 500 });
      for (let i = 0; i < payloads.length; i++) await writer.append(payloads[i], { timestampMs: 1_700_000_000_000 + 33 * i });
      await writer.close();
      const path = await onlySegment(directory);
      const report = await verifyArchive(path);
      expect(report).toMatchObject({
        ok: true,
        protocol: 'keypoints',
        framing: 'varint',
        frames: 25,
        masters: 3,
        firstFrameId: 500n,
        lastFrameId: 524n,
        firstTimestampMs: 1_700_000_000_000,
        lastTimestampMs: 1_700_000_000_000 + 33 * 24,
        bytes: (await stat(path)).size,
        validBytes: (await stat(path)).size,
        tornTail: undefined,
        corruption: undefined,
        index: { status: 'fresh', coveredBytes: (await stat(path)).size },
      });
      expect(report.pointDefinition).toEqual({ version: '1.0', computeModuleName: '', points: { nose: 0 } });
      expect(report.metadata?.streamId).toBe('s');
    }));

  it('takes times from Result payloads', () =>
    withTempDir(async (directory) => {
      const writer = await ArchiveWriter.open({ directory, baseName: 'rec', streamId: 's', protocol: 'result' });
      for (let i = 0; i < 5; i++) await writer.append(resultPayload(BigInt(i + 1), BigInt(2_000_000 + 1000 * i)));
      await writer.close();
      expect(await verifyArchive(await onlySegment(directory))).toMatchObject({
        ok: true,
        masters: undefined,
        firstFrameId: 1n,
        lastFrameId: 5n,
        firstTimestampMs: 2000,
        lastTimestampMs: 2004,
      });
    }));

  it('reports a torn tail with its offset and the bytes before it as valid', () =>
    withTempDir(async (directory) => {
      const writer = await ArchiveWriter.open({ directory, baseName: 'rec', streamId: 's', protocol: 'segmentation' });
      for (const payload of segmentationPayloads(6)) await writer.append(payload);
      await writer.close();
      const path = await onlySegment(directory);
      const size = (await stat(path)).size;
      await appendFile(path, Buffer.from([0x40, 1, 2]));
      const report = await verifyArchive(path);
      expect(report).toMatchObject({
        ok: false,
        frames: 6,
        validBytes: size,
        bytes: size + 3,
        tornTail: { reason: 'truncated-payload', offset: size, expected: 65, available: 3 },
        corruption: undefined,
        index: { status: 'stale' },
      });
    }));

  it('reports corruption with its offset and reason instead of throwing', () =>
    withTempDir(async (directory) => {
      const writer = await ArchiveWriter.open({ directory, baseName: 'rec', streamId: 's', protocol: 'segmentation' });
      const payloads = segmentationPayloads(6);
      for (const payload of payloads) await writer.append(payload);
      await writer.close();
      const path = await onlySegment(directory);
      const offsets: number[] = [];
      for await (const frame of readArchive(path)) offsets.push(frame.offset);
      const bytes = await readFile(path);
      const third = offsets[2];
      bytes[third] = 0x00;
      await writeFile(path, bytes);
      expect(await verifyArchive(path)).toMatchObject({
        ok: false,
        frames: 2,
        validBytes: third,
        corruption: { offset: third, reason: 'empty-frame' },
      });
    }));
});

describe('repairTornTail', () => {
  it('cuts the torn tail off so the file ends at its last complete frame, and is a no-op on a clean file', () =>
    withTempDir(async (directory) => {
      const writer = await ArchiveWriter.open({ directory, baseName: 'rec', streamId: 's', protocol: 'keypoints' });
      for (const payload of keypointsPayloads(12)) await writer.append(payload);
      await writer.close();
      const path = await onlySegment(directory);
      expect(await repairTornTail(path)).toBeUndefined();
      const size = (await stat(path)).size;
      await truncate(path, size - 4);
      const frames: bigint[] = [];
      for await (const frame of readArchive(path)) frames.push(frame.frameId);
      const tail = await repairTornTail(path);
      expect(tail).toMatchObject({ reason: 'truncated-payload' });
      expect((await stat(path)).size).toBe(tail?.offset);
      expect(await verifyArchive(path)).toMatchObject({ ok: true, frames: 11 });
      expect(frames).toHaveLength(11);
    }));

  it('lets a writer reopened in append mode continue right after the last complete frame', () =>
    withTempDir(async (directory) => {
      const options = { directory, baseName: 'rec', streamId: 's', protocol: 'segmentation' as const };
      const writer = await ArchiveWriter.open(options);
      const payloads = segmentationPayloads(8);
      for (const payload of payloads.slice(0, 5)) await writer.append(payload);
      await writer.close();
      const path = await onlySegment(directory);
      await appendFile(path, Buffer.from([0x7f, 0x00, 0x00])); // a torn frame
      const reopened = await ArchiveWriter.open({ ...options, append: true });
      for (const payload of payloads.slice(5)) await reopened.append(payload);
      await reopened.close();
      const read: Uint8Array[] = [];
      const reader = readArchive(path);
      for await (const frame of reader) read.push(Uint8Array.from(frame.payload));
      expect(read).toEqual(payloads);
      expect(reader.events).toEqual([]);
      expect(await verifyArchive(path)).toMatchObject({ ok: true, frames: 8, index: { status: 'fresh' } });
    }));
});
