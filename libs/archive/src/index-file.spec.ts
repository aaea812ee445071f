import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { indexCheckpointLine, indexEntryLine, indexHeaderLine, loadIndex } from './index-file';
import { withTempDir } from './testing/fixtures';

const header = indexHeaderLine('keypoints', 'varint', 30);
const entry = (n: number, o: number): string =>
  indexEntryLine({ frameNumber: n, offset: o, frameId: 18_446_744_073_709_551_615n, timestampMs: 1000 + n, seekPoint: true });

describe('loadIndex', () => {
  it('keeps entries up to the last checkpoint and ignores a torn last line', () =>
    withTempDir(async (directory) => {
      const path = join(directory, 'a.idx');
      await writeFile(path, header + entry(0, 0) + indexCheckpointLine({ bytes: 100, frames: 30 }) + entry(30, 100) + '{"kind":"checkp');
      const load = await loadIndex(path);
      expect(load).toEqual({
        status: 'loaded',
        index: {
          protocol: 'keypoints',
          framing: 'varint',
          everyFrames: 30,
          entries: [{ frameNumber: 0, offset: 0, frameId: 18_446_744_073_709_551_615n, timestampMs: 1000, seekPoint: true }],
          covered: { bytes: 100, frames: 30 },
        },
      });
    }));

  it('says missing for no file and invalid for a damaged one', () =>
    withTempDir(async (directory) => {
      const path = join(directory, 'a.idx');
      expect(await loadIndex(path)).toEqual({ status: 'missing' });
      await writeFile(path, `${header}not json\n`);
      expect(await loadIndex(path)).toMatchObject({ status: 'invalid', reason: 'line 2 is not JSON' });
      await writeFile(path, header + entry(5, 50) + entry(3, 60) + indexCheckpointLine({ bytes: 100, frames: 10 }));
      expect(await loadIndex(path)).toMatchObject({ status: 'invalid' });
      await writeFile(path, '{"kind":"header","format":"other","version":1}\n');
      expect(await loadIndex(path)).toMatchObject({ status: 'invalid' });
    }));
});
