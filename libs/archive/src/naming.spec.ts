import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { listSegments, parseSegmentFileName, segmentFileName, segmentFiles } from './index';
import { withTempDir } from './testing/fixtures';

describe('segment names', () => {
  it('round-trip through parseSegmentFileName, stream ids with dashes included', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_.]{1,20}$/),
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,30}$/),
        fc.integer({ min: 0, max: 4_102_444_800 }).map((s) => s * 1000),
        fc.integer({ min: 0, max: 10_000_000 }),
        (baseName, streamId, createdAtMs, seq) => {
          const name = segmentFileName(baseName, streamId, createdAtMs, seq);
          expect(parseSegmentFileName(`/data/${name}`)).toEqual({ path: `/data/${name}`, baseName, streamId, createdAtMs, seq });
        },
      ),
    );
  });

  it('sort by name in time order and zero-pad the sequence to six digits', () => {
    expect(segmentFileName('rec', 'cam-1', Date.UTC(2024, 11, 31, 23, 59, 59, 999), 7)).toBe('rec-cam-1-20241231T235959Z-000007.bin');
  });

  it('put the sidecars beside the .bin under the same name', () => {
    expect(segmentFiles('/d/rec-s-20240101T000000Z-000000.bin')).toEqual({
      bin: '/d/rec-s-20240101T000000Z-000000.bin',
      metadata: '/d/rec-s-20240101T000000Z-000000.fw.json',
      index: '/d/rec-s-20240101T000000Z-000000.idx',
      points: '/d/rec-s-20240101T000000Z-000000.json',
    });
  });

  it('lists the segments of one stream by sequence number, ignoring other streams and files', () =>
    withTempDir(async (directory) => {
      await mkdir(directory, { recursive: true });
      const names = [
        'rec-cam-20240101T000010Z-000002.bin',
        'rec-cam-20240101T000020Z-000001.bin', // a clock set back: seq decides
        'rec-cam-20240101T000000Z-000000.bin',
        'rec-cam-2-20240101T000000Z-000000.bin',
        'other-cam-20240101T000000Z-000000.bin',
        'rec-cam-20240101T000000Z-000000.fw.json',
        'rec-cam-garbage.bin',
      ];
      for (const name of names) await writeFile(join(directory, name), '');
      expect((await listSegments(directory, 'rec', 'cam')).map((s) => s.seq)).toEqual([0, 1, 2]);
      expect((await listSegments(directory, 'rec', 'cam-2')).map((s) => s.seq)).toEqual([0]);
      expect(await listSegments(join(directory, 'missing'), 'rec', 'cam')).toEqual([]);
    }));
});
