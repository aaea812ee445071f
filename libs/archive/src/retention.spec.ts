import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ArchiveConfigError, ArchiveWriter, SegmentRetention, listSegments, segmentFiles } from './index';
import { resultPayload, withTempDir } from './testing/fixtures';

const T0 = Date.parse('2024-03-05T06:07:08Z');
const MINUTE_MS = 60_000;

/** Writes one closed segment of `frames` Results; its files' last write is `ageMs` before T0. */
async function segment(directory: string, baseName: string, streamId: string, ageMs: number, frames = 4): Promise<string> {
  const writer = await ArchiveWriter.open({ directory, baseName, streamId, protocol: 'result', clock: () => T0 });
  for (let i = 0; i < frames; i++) await writer.append(resultPayload(BigInt(i), BigInt(i)));
  await writer.close();
  const when = new Date(T0 - ageMs);
  for (const file of Object.values(segmentFiles(writer.segmentPath))) await utimes(file, when, when).catch(() => undefined);
  return writer.segmentPath;
}

async function filesOf(bin: string): Promise<string[]> {
  const present: string[] = [];
  for (const file of Object.values(segmentFiles(bin))) if (await stat(file).catch(() => undefined)) present.push(file);
  return present;
}

async function bytesOf(bins: readonly string[]): Promise<number> {
  let total = 0;
  for (const bin of bins) for (const file of await filesOf(bin)) total += (await stat(file)).size;
  return total;
}

const nothingOpen = { isOpen: () => false };

describe('SegmentRetention', () => {
  it('deletes the oldest segments, each with its sidecars, until the rest fit in maxBytes', () =>
    withTempDir(async (directory) => {
      const bins = [];
      for (let i = 0; i < 5; i++) bins.push(await segment(directory, 'rec', 'cam-1', (5 - i) * MINUTE_MS));
      const newestTwo = await bytesOf(bins.slice(3));
      const all = await bytesOf(bins);
      const retention = new SegmentRetention({ directory, policy: { maxBytes: newestTwo }, clock: () => T0 });
      const outcome = await retention.sweep(nothingOpen);
      expect(outcome).toEqual({ segmentsDeleted: 3, bytesDeleted: all - newestTwo, removedDirectories: [] });
      expect((await listSegments(directory, 'rec', 'cam-1')).map((s) => s.path)).toEqual(bins.slice(3));
      // No sidecar of a deleted segment is left behind.
      for (const bin of bins.slice(0, 3)) expect(await filesOf(bin)).toEqual([]);
      expect(await filesOf(bins[3])).toHaveLength(3);
    }));

  it('deletes segments older than maxAgeMs by the injected clock', () =>
    withTempDir(async (directory) => {
      const old = await segment(directory, 'rec', 'cam-1', 10 * MINUTE_MS);
      const recent = await segment(directory, 'rec', 'cam-1', MINUTE_MS);
      const retention = new SegmentRetention({ directory, policy: { maxAgeMs: 5 * MINUTE_MS }, clock: () => T0 });
      expect((await retention.sweep(nothingOpen)).segmentsDeleted).toBe(1);
      expect((await listSegments(directory, 'rec', 'cam-1')).map((s) => s.path)).toEqual([recent]);
      expect(await filesOf(old)).toEqual([]);
    }));

  it('never deletes a segment open for writing, and deletes newer ones in its place to meet maxBytes', () =>
    withTempDir(async (directory) => {
      const oldest = await segment(directory, 'rec', 'cam-1', 3 * MINUTE_MS);
      const middle = await segment(directory, 'rec', 'cam-1', 2 * MINUTE_MS);
      const newest = await segment(directory, 'rec', 'cam-1', MINUTE_MS);
      const retention = new SegmentRetention({ directory, policy: { maxBytes: await bytesOf([newest]) }, clock: () => T0 });
      const outcome = await retention.sweep({ isOpen: (bin) => bin === oldest });
      expect(outcome.segmentsDeleted).toBe(2);
      expect((await listSegments(directory, 'rec', 'cam-1')).map((s) => s.path)).toEqual([oldest]);
      expect(await filesOf(middle)).toEqual([]);
    }));

  it('deletes the segments of one unit together, and keeps them together while one is open', () =>
    withTempDir(async (directory) => {
      // An RW archive and its envelope: segment n of one goes with segment n of the other.
      const unitKey = (s: { baseName: string; seq: number }): string => `${s.baseName.replace(/\.envelope$/, '')}\n${s.seq}`;
      const rw0 = await segment(directory, 'keypoints', 'cam-1', 4 * MINUTE_MS);
      const envelope0 = await segment(directory, 'keypoints.envelope', 'cam-1', 3 * MINUTE_MS);
      const rw1 = await segment(directory, 'keypoints', 'cam-1', 2 * MINUTE_MS);
      const envelope1 = await segment(directory, 'keypoints.envelope', 'cam-1', 2 * MINUTE_MS);
      const retention = new SegmentRetention({ directory, policy: { maxAgeMs: MINUTE_MS }, unitKey, clock: () => T0 });
      expect((await retention.sweep({ isOpen: (bin) => bin === envelope1 })).segmentsDeleted).toBe(2);
      for (const bin of [rw0, envelope0]) expect(await filesOf(bin)).toEqual([]);
      for (const bin of [rw1, envelope1]) expect(await filesOf(bin)).not.toEqual([]);
    }));

  it('counts and deletes only the segments it includes', () =>
    withTempDir(async (directory) => {
      const frames = await segment(directory, 'frames', 'cam-1', 10 * MINUTE_MS);
      const other = await segment(directory, 'other', 'cam-1', 10 * MINUTE_MS);
      await writeFile(join(directory, 'notes.txt'), 'not a segment');
      const retention = new SegmentRetention({ directory, policy: { maxBytes: 1 }, includes: (s) => s.baseName === 'frames', clock: () => T0 });
      expect((await retention.sweep(nothingOpen)).segmentsDeleted).toBe(1);
      expect(await filesOf(frames)).toEqual([]);
      expect(await filesOf(other)).toHaveLength(3);
      expect(await readdir(directory)).toContain('notes.txt');
    }));

  it('walks a tree of segment directories, removes those it emptied and their emptied parents, never the root or one in use', () =>
    withTempDir(async (root) => {
      await segment(join(root, 'cam-1', 'w1'), 'tracks', 'cam-1', 10 * MINUTE_MS);
      await segment(join(root, 'cam-1', 'w2'), 'tracks', 'cam-1', 10 * MINUTE_MS);
      await segment(join(root, 'cam-2', 'w1'), 'tracks', 'cam-2', 10 * MINUTE_MS);
      const recent = await segment(join(root, 'cam-3', 'w1'), 'tracks', 'cam-3', 0);
      await mkdir(join(root, 'cam-4', 'w1'), { recursive: true });
      const retention = new SegmentRetention({ directory: root, depth: 2, policy: { maxAgeMs: MINUTE_MS }, clock: () => T0 });
      const outcome = await retention.sweep({ isOpen: () => false, directoryInUse: (path) => path === join('cam-1', 'w2') });
      expect(outcome.segmentsDeleted).toBe(3);
      expect(outcome.removedDirectories.sort()).toEqual([join('cam-1', 'w1'), join('cam-2', 'w1'), join('cam-4', 'w1')]);
      expect((await readdir(root)).sort()).toEqual(['cam-1', 'cam-3']);
      expect(await readdir(join(root, 'cam-1'))).toEqual(['w2']);
      expect(await filesOf(recent)).toHaveLength(3);
      expect(retention.directoryRemoval).toBeUndefined();
    }));

  it('removes emptied directories even without a limit, and lets writers wait for the removal', () =>
    withTempDir(async (root) => {
      await mkdir(join(root, 'cam-1', 'w1'), { recursive: true });
      const retention = new SegmentRetention({ directory: root, depth: 2, policy: {} });
      const sweep = retention.sweep(nothingOpen);
      // The removal is under way: a writer of that directory opens after it, and recreates it.
      const barrier = retention.directoryRemoval;
      expect(barrier).toBeDefined();
      await barrier;
      const writer = await ArchiveWriter.open({ directory: join(root, 'cam-1', 'w1'), baseName: 'tracks', streamId: 'cam-1', protocol: 'result' });
      await writer.close();
      expect((await sweep).removedDirectories).toEqual([join('cam-1', 'w1')]);
      expect(await listSegments(join(root, 'cam-1', 'w1'), 'tracks', 'cam-1')).toHaveLength(1);
    }));

  it('refuses a limit that is not a positive integer, naming it', () => {
    expect(() => new SegmentRetention({ directory: '/tmp', policy: { maxBytes: 0 } })).toThrow(ArchiveConfigError);
    expect(() => new SegmentRetention({ directory: '/tmp', policy: { maxAgeMs: 1.5 } })).toThrow(/retention\.maxAgeMs must be a positive integer, got 1\.5/);
  });
});
