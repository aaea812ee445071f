import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { FrameRingReader, FrameRingWriter, RingFrameError, RingOptionsError, RingOwnedError, RingSpaceError, RingNotFoundError } from './index';
import { HeaderOffset, ringGeometry } from './layout';
import { shmAddon } from './native';
import { fillFrame, isIntactFrame } from './testing/frame-pattern';

const PREFIX = `fw-test-ring-${process.pid}-`;
let counter = 0;
const ringName = (): string => `${PREFIX}${counter++}`;
const meta = (sequence: number) => ({ streamId: 'cam-1', sequence, captureTimeUs: 1_700_000_000_000_000 + sequence, width: 640, height: 480, pixelFormat: 3 });

const writers: FrameRingWriter[] = [];
function createWriter(options: Partial<Parameters<typeof FrameRingWriter.create>[0]> = {}): FrameRingWriter {
  const writer = FrameRingWriter.create({ name: ringName(), slotCount: 4, slotBytes: 4096, ...options });
  writers.push(writer);
  return writer;
}

afterEach(() => {
  for (const writer of writers.splice(0)) writer.close();
});

afterAll(() => {
  expect(readdirSync('/dev/shm').filter((entry) => entry.startsWith(PREFIX))).toEqual([]);
});

describe('FrameRingWriter and FrameRingReader in one process', () => {
  it('round-trips bytes and metadata and proves identity with the token', () => {
    const writer = createWriter();
    const reader = FrameRingReader.open(writer.name);
    const data = fillFrame(Buffer.alloc(3000), 42);
    const ref = writer.write(meta(42), data);
    expect(ref).toMatchObject({ ringName: writer.name, slot: 0, length: 3000 });
    expect(ref.slotSequence % 2).toBe(0);
    expect(reader.token).toBe(writer.token);
    expect(reader.token).toMatch(/^[0-9a-f]{32}$/);
    const result = reader.read(ref);
    expect(result.ok && Buffer.from(result.data).equals(data)).toBe(true);
    expect(reader.latest()).toEqual({ ref, meta: meta(42) });
    expect(reader.withFrame(ref, (view) => isIntactFrame(view))).toBe(true);
    expect(reader.writerStatus()).toBe('alive');
    expect(reader.stats).toEqual({ reads: 2, overwritten: 0, checksumFailures: 0, invalidRefs: 0 });
    reader.close();
  });

  it('reports a lapped slot as overwritten, never as data', () => {
    const writer = createWriter({ slotCount: 2 });
    const reader = FrameRingReader.open(writer.name);
    const first = writer.write(meta(1), fillFrame(Buffer.alloc(100), 1));
    writer.write(meta(2), fillFrame(Buffer.alloc(100), 2));
    writer.write(meta(3), fillFrame(Buffer.alloc(100), 3));
    expect(reader.read(first)).toEqual({ ok: false, reason: 'overwritten' });
    expect(reader.stats.overwritten).toBe(1);
    reader.close();
  });

  it('drops a frame overwritten while a zero-copy view is in use', () => {
    const writer = createWriter({ slotCount: 1 });
    const reader = FrameRingReader.open(writer.name);
    const ref = writer.write(meta(1), fillFrame(Buffer.alloc(100), 1));
    const seen = reader.withFrame(ref, (view) => {
      writer.write(meta(2), fillFrame(Buffer.alloc(100), 2));
      return view.length;
    });
    expect(seen).toBeUndefined();
    expect(reader.stats.overwritten).toBe(1);
    reader.close();
  });

  it('lends a view of the slot that stays valid until the slot is rewritten', () => {
    const writer = createWriter({ slotCount: 2 });
    const reader = FrameRingReader.open(writer.name);
    const data = fillFrame(Buffer.alloc(1000), 1);
    const ref = writer.write(meta(1), data);
    const borrowed = reader.borrow(ref);
    if (!borrowed.ok) throw new Error(`borrow failed: ${borrowed.reason}`);
    expect(borrowed.data.equals(data)).toBe(true);
    expect(borrowed.stillValid()).toBe(true);
    writer.write(meta(2), fillFrame(Buffer.alloc(1000), 2)); // the other slot: this one is untouched
    expect(borrowed.stillValid()).toBe(true);
    expect(reader.stats).toMatchObject({ reads: 1, overwritten: 0 });
    writer.write(meta(3), fillFrame(Buffer.alloc(1000), 3)); // rewrites the borrowed slot
    // The view is not a copy: it now shows the newer frame's bytes, and stillValid() says so.
    expect(borrowed.data.equals(data)).toBe(false);
    expect(borrowed.stillValid()).toBe(false);
    expect(borrowed.stillValid()).toBe(false);
    expect(reader.stats).toMatchObject({ reads: 1, overwritten: 1 });
    expect(reader.borrow(ref)).toEqual({ ok: false, reason: 'overwritten' });
    expect(reader.stats.overwritten).toBe(2);
    reader.close();
  });

  it('checks a borrowed view against its checksum, and calls it invalid once the reader is closed', () => {
    const writer = createWriter();
    const verifying = FrameRingReader.open(writer.name);
    const ref = writer.write(meta(1), fillFrame(Buffer.alloc(100), 1));
    expect(verifying.borrow({ ...ref, crc32: ref.crc32 ^ 1 })).toEqual({ ok: false, reason: 'checksum' });
    expect(verifying.borrow({ ...ref, slot: 99 })).toEqual({ ok: false, reason: 'invalid-ref' });
    const borrowed = verifying.borrow(ref);
    expect(borrowed.ok && borrowed.stillValid()).toBe(true);
    verifying.close();
    expect(borrowed.ok && borrowed.stillValid()).toBe(false);
    expect(verifying.stats).toEqual({ reads: 1, overwritten: 1, checksumFailures: 1, invalidRefs: 1 });
  });

  it('counts a checksum mismatch, and skips the check when verification is off', () => {
    const writer = createWriter();
    const verifying = FrameRingReader.open(writer.name);
    const trusting = FrameRingReader.open(writer.name, { verifyChecksum: false });
    const ref = writer.write(meta(1), fillFrame(Buffer.alloc(100), 1));
    expect(verifying.read({ ...ref, crc32: ref.crc32 ^ 1 })).toEqual({ ok: false, reason: 'checksum' });
    expect(verifying.stats.checksumFailures).toBe(1);
    expect(trusting.read({ ...ref, crc32: ref.crc32 ^ 1 }).ok).toBe(true);
    verifying.close();
    trusting.close();
  });

  it('rejects references that do not fit the ring', () => {
    const writer = createWriter();
    const reader = FrameRingReader.open(writer.name);
    const ref = writer.write(meta(1), Buffer.alloc(10));
    for (const bad of [{ ...ref, slot: 4 }, { ...ref, slot: -1 }, { ...ref, length: 4097 }, { ...ref, ringName: 'other' }, { ...ref, slotSequence: ref.slotSequence + 1 }]) {
      expect(reader.read(bad)).toEqual({ ok: false, reason: 'invalid-ref' });
    }
    expect(reader.stats.invalidRefs).toBe(5);
    reader.close();
  });

  it('refuses frames larger than a slot and stream ids longer than their field', () => {
    const writer = createWriter({ slotBytes: 64 });
    expect(() => writer.write(meta(1), Buffer.alloc(65))).toThrow(RingFrameError);
    expect(() => writer.write({ ...meta(1), streamId: 'x'.repeat(81) }, Buffer.alloc(1))).toThrow(RingFrameError);
    expect(() => writer.write({ ...meta(1), width: -1 }, Buffer.alloc(1))).toThrow(RingFrameError);
  });

  it('validates ring names', () => {
    // "." and ".." fit the characters but name /dev/shm itself and /dev.
    for (const name of ['', 'a/b', '../etc', 'x'.repeat(201), 'sp ace', 'ü', '.', '..']) {
      expect(() => FrameRingWriter.create({ name, slotCount: 1, slotBytes: 1 })).toThrow(RingOptionsError);
      expect(() => FrameRingReader.open(name)).toThrow(RingOptionsError);
    }
    expect(() => FrameRingWriter.create({ name: ringName(), slotCount: 0, slotBytes: 1 })).toThrow(RingOptionsError);
    expect(() => FrameRingWriter.create({ name: ringName(), slotCount: 1, slotBytes: 1, mode: 0o644 | 0o4000 })).toThrow(RingOptionsError);
  });

  it('refuses a ring larger than the free space of /dev/shm with a typed error', () => {
    const free = shmAddon().freeBytes('/dev/shm');
    const slotBytes = 2 ** 32 - 1;
    const slotCount = Math.ceil(free / slotBytes) + 1;
    let error: unknown;
    try {
      FrameRingWriter.create({ name: ringName(), slotCount, slotBytes });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RingSpaceError);
    expect((error as RingSpaceError).code).toBe('SHM_NO_SPACE');
    expect((error as RingSpaceError).neededBytes).toBe(ringGeometry(slotCount, slotBytes).totalBytes);
    expect((error as Error).message).toMatch(/bytes free/);
  });

  it('creates the object owner-only by default, or with the given group mode', () => {
    const privateRing = createWriter();
    expect(statSync(`/dev/shm/${privateRing.name}`).mode & 0o777).toBe(0o600);
    const groupRing = createWriter({ mode: 0o660 });
    expect(statSync(`/dev/shm/${groupRing.name}`).mode & 0o777).toBe(0o660);
  });

  it('refuses a name owned by a live writer and removes one left by a dead writer', () => {
    const writer = createWriter();
    expect(() => FrameRingWriter.create({ name: writer.name, slotCount: 1, slotBytes: 1 })).toThrow(RingOwnedError);
    // Make the header claim a dead pid, as a crashed writer leaves it.
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid as number;
    const mapping = shmAddon().open(writer.name, true);
    shmAddon().store32Release(mapping, HeaderOffset.writerPid, deadPid);
    shmAddon().close(mapping);
    const successor = FrameRingWriter.create({ name: writer.name, slotCount: 2, slotBytes: 16 });
    writers.push(successor);
    expect(successor.token).not.toBe(writer.token);
  });

  it('unlinks the object on close, and the reader then sees the writer gone', () => {
    const writer = FrameRingWriter.create({ name: ringName(), slotCount: 1, slotBytes: 16 });
    const reader = FrameRingReader.open(writer.name);
    writer.close();
    writer.close();
    expect(existsSync(`/dev/shm/${writer.name}`)).toBe(false);
    expect(reader.writerStatus()).toBe('gone');
    expect(() => FrameRingReader.open(writer.name)).toThrow(RingNotFoundError);
    reader.close();
  });
});
