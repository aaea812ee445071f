import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './sidecar';
import { withTempDir } from './testing/fixtures';

describe('writeFileAtomic', () => {
  it('lets concurrent writes of one path all succeed, leaving one whole version and no temporary file', () =>
    withTempDir(async (directory) => {
      const path = join(directory, 'segment.fw.json');
      const versions = Array.from({ length: 20 }, (_, i) => `${JSON.stringify({ version: i, padding: 'x'.repeat(i * 100) })}\n`);
      // All started before any finishes: one temporary name per process would rename one away from the others.
      await Promise.all(versions.map((text) => writeFileAtomic(path, text)));
      expect(versions).toContain(await readFile(path, 'utf8'));
      expect(await readdir(directory)).toEqual(['segment.fw.json']);
    }));
});
