import type { Frame } from '@framewire/proto';
import type { RingFrameRef, RingReadResult } from '@framewire/shm';
import { FrameSupplier, FrameSupplierOptions } from './frame-supplier';
import { RING_REOPEN_INTERVAL_MS, SupplierRingReader } from './shared-memory';
import { InvalidRequestError, SupplierLimitError } from './errors';
import { MAX_RINGS, MAX_RINGS_PER_STREAM, RING_NAME_EXPIRY_MS } from './ring-names';
import { errorOf } from '@framewire/testing';

const RING = 'fw-test-cam-1';
const TOKEN = '0123456789abcdef0123456789abcdef';

/** A ring reader over a map of slot contents that counts its reads (unit tests only; the
 *  integration tests use a real ring). */
class CountingRingReader implements SupplierRingReader {
  reads = 0;
  closed = false;
  reattaches = 0;
  status: 'alive' | 'gone' | 'replaced' = 'alive';
  /** What read() answers for each slot. */
  readonly slots = new Map<number, RingReadResult>();
  constructor(public token: string = TOKEN) {}
  read(ref: RingFrameRef): RingReadResult {
    this.reads++;
    return this.slots.get(ref.slot) ?? { ok: false, reason: 'invalid-ref' };
  }
  writerStatus() {
    return this.status;
  }
  reattach(): void {
    this.reattaches++;
    this.status = 'alive';
    this.token = `${this.token}1`;
  }
  close(): void {
    this.closed = true;
  }
}

function refFrame(sequence: number, slot: number, bytes = 64): Frame {
  return {
    streamId: 'cam-1',
    sequence,
    captureTimeUs: 1_700_000_000_000_000 + sequence,
    width: 8,
    height: 8,
    pixelFormat: 5,
    sizeBytes: bytes,
    shmRef: { ringName: RING, slot, slotSequence: 2 * sequence, crc32: 7 },
  };
}

function setUp(reader = new CountingRingReader(), options: Partial<FrameSupplierOptions> = {}) {
  const clock = { ms: 1_700_000_000_000 };
  const opened: string[] = [];
  const supplier = new FrameSupplier({
    maxWorkers: 16,
    maxStreams: 4,
    maxFrameBytes: 1 << 20,
    now: () => clock.ms,
    openRingReader: (name) => {
      opened.push(name);
      return reader;
    },
    ...options,
  });
  return { supplier, reader, opened, clock };
}


describe('FrameSupplier with shared-memory frames', () => {
  it('reads a frame from the ring once however many byte workers take it (8 workers, 1 read per frame)', () => {
    const { supplier, reader } = setUp();
    const workers = Array.from({ length: 8 }, (_, i) => supplier.subscribe({ workerId: `bytes-${i}`, streamId: 'cam-1' }));
    for (let seq = 1; seq <= 5; seq++) {
      reader.slots.set(seq % 4, { ok: true, data: Buffer.alloc(64, seq) });
      const frame = refFrame(seq, seq % 4);
      supplier.publish(frame);
      const delivered = workers.map((w) => w.takeDelivery()?.frame);
      expect(reader.reads).toBe(seq);
      for (const d of delivered) {
        expect(d?.shmRef).toBeUndefined();
        expect(d?.data).toEqual(Buffer.alloc(64, seq));
        // One bytes frame for all: its other fields are encoded once too (delivery-encoding).
        expect(d).toBe(delivered[0]);
      }
    }
    expect(supplier.sharedMemory.stats.frameReads).toBe(5);
    expect(supplier.stats().workers.every((w) => !w.sharedMemory && w.framesDelivered === 5)).toBe(true);
  });

  it('hands the reference itself to a worker that asked for shared memory and proved the ring, without reading it', () => {
    const { supplier, reader } = setUp();
    const refs = supplier.subscribe({ workerId: 'refs', streamId: 'cam-1', preferSharedMemory: true, shmRingTokens: [TOKEN] });
    const frame = refFrame(1, 0);
    supplier.publish(frame);
    expect(refs.takeDelivery()?.frame).toBe(frame);
    expect(reader.reads).toBe(0);
    expect(supplier.stats().workers[0]).toMatchObject({ workerId: 'refs', sharedMemory: true, framesDelivered: 1 });
  });

  it.each([
    ['asked for shared memory with a wrong token', { preferSharedMemory: true, shmRingTokens: ['feedface'.repeat(4)] }],
    ['presented the token but did not ask for shared memory', { preferSharedMemory: false, shmRingTokens: [TOKEN] }],
    ['asked for shared memory but proved no ring', { preferSharedMemory: true, shmRingTokens: [] }],
  ])('gives bytes to a worker that %s', (_name, request) => {
    const { supplier, reader } = setUp();
    reader.slots.set(0, { ok: true, data: Buffer.from('frame bytes') });
    const w = supplier.subscribe({ workerId: 'w', streamId: 'cam-1', ...request });
    supplier.publish(refFrame(1, 0, 11));
    const delivery = w.takeDelivery();
    expect(delivery?.frame.data?.toString()).toBe('frame bytes');
    expect(delivery?.frame.shmRef).toBeUndefined();
    expect(supplier.stats().workers[0].sharedMemory).toBe(false);
  });

  it('skips a frame whose slot was overwritten, as a drop of every byte worker, and reports it with the next delivery', () => {
    const { supplier, reader } = setUp();
    const workers = [0, 1, 2].map((i) => supplier.subscribe({ workerId: `w${i}`, streamId: 'cam-1' }));
    const refs = supplier.subscribe({ workerId: 'refs', streamId: 'cam-1', preferSharedMemory: true, shmRingTokens: [TOKEN] });
    reader.slots.set(0, { ok: false, reason: 'overwritten' });
    supplier.publish(refFrame(1, 0));
    for (const w of workers) expect(w.takeDelivery()).toBeUndefined();
    expect(reader.reads).toBe(1); // the failed read is not repeated per worker
    expect(refs.takeDelivery()?.frame.sequence).toBe(1); // the reference worker reads (and judges) it itself

    reader.slots.set(1, { ok: true, data: Buffer.alloc(64, 2) });
    supplier.publish(refFrame(2, 1));
    for (const w of workers) expect(w.takeDelivery()).toMatchObject({ droppedSinceLast: 1, frame: { sequence: 2 } });
    const stats = supplier.stats().workers.find((w) => w.workerId === 'w0');
    expect(stats).toMatchObject({ dropsTotal: 1, dropsConsecutive: 0, framesDelivered: 1, lastSequence: 2 });
    expect(supplier.sharedMemory.stats.failures.overwritten).toBe(1);
  });

  it('counts a checksum failure as a drop and never delivers the bytes', () => {
    const { supplier, reader } = setUp();
    const w = supplier.subscribe({ workerId: 'w', streamId: 'cam-1' });
    reader.slots.set(0, { ok: false, reason: 'checksum' });
    supplier.publish(refFrame(1, 0));
    supplier.publish(refFrame(2, 0)); // overwrites frame 1 in the mailbox: a mailbox drop first
    expect(w.takeDelivery()).toBeUndefined();
    expect(supplier.stats().workers[0]).toMatchObject({ dropsTotal: 2, dropsConsecutive: 2, framesDelivered: 0 });
    expect(supplier.sharedMemory.stats.failures.checksum).toBe(1);
  });

  it('opens a ring on the first reference naming it, once, and lists it for its stream', () => {
    const { supplier, opened } = setUp();
    expect(supplier.rings('cam-1')).toEqual([]);
    for (let seq = 1; seq <= 3; seq++) supplier.publish(refFrame(seq, 0));
    expect(opened).toEqual([RING]);
    expect(supplier.rings('cam-1')).toEqual([{ ringName: RING, streamId: 'cam-1' }]);
    expect(supplier.rings()).toEqual([{ ringName: RING, streamId: 'cam-1' }]);
    expect(supplier.rings('cam-2')).toEqual([]);
  });

  it('retries a ring that failed to open after an interval, dropping its frames for byte workers meanwhile', () => {
    let failing = true;
    const reader = new CountingRingReader();
    reader.slots.set(0, { ok: true, data: Buffer.alloc(64) });
    const clock = { ms: 0 };
    const errors: string[] = [];
    const supplier = new FrameSupplier({
      maxWorkers: 4,
      maxStreams: 4,
      maxFrameBytes: 1 << 20,
      now: () => clock.ms,
      openRingReader: () => {
        if (failing) throw new Error('no such ring');
        return reader;
      },
      onRingOpenError: (name, err) => errors.push(`${name}: ${err.message}`),
    });
    const w = supplier.subscribe({ workerId: 'w', streamId: 'cam-1' });
    supplier.publish(refFrame(1, 0));
    expect(w.takeDelivery()).toBeUndefined();
    failing = false;
    supplier.publish(refFrame(2, 0));
    expect(w.takeDelivery()).toBeUndefined(); // within the interval: not tried again
    clock.ms += RING_REOPEN_INTERVAL_MS;
    supplier.publish(refFrame(3, 0));
    expect(w.takeDelivery()).toMatchObject({ frame: { sequence: 3 }, droppedSinceLast: 2 });
    expect(errors).toEqual([`${RING}: no such ring`]);
    expect(supplier.sharedMemory.stats.failures['ring-unavailable']).toBe(2);
  });

  it('reattaches when a new publisher references a ring whose writer restarted; the old token no longer proves it', () => {
    const { supplier, reader } = setUp();
    reader.slots.set(0, { ok: true, data: Buffer.alloc(64) });
    const refs = supplier.subscribe({ workerId: 'refs', streamId: 'cam-1', preferSharedMemory: true, shmRingTokens: [TOKEN] });
    const first = supplier.openPublisher();
    first.publish(refFrame(1, 0));
    expect(refs.takeDelivery()?.frame.shmRef).toEqual(refFrame(1, 0).shmRef);
    first.close();

    reader.status = 'replaced';
    const restarted = supplier.openPublisher();
    restarted.publish(refFrame(1, 0));
    expect(reader.reattaches).toBe(1);
    // The worker proved the old ring only: it gets bytes until it proves the new one.
    const delivery = refs.takeDelivery();
    expect(delivery?.frame.shmRef).toBeUndefined();
    expect(delivery?.frame.data).toHaveLength(64);
    expect(supplier.sharedMemory.stats.reattaches).toBe(1);
  });

  it('closes the ring readers when it closes', () => {
    const { supplier, reader } = setUp();
    supplier.publish(refFrame(1, 0));
    supplier.close();
    expect(reader.closed).toBe(true);
  });

  it('rejects malformed ring tokens, naming the field and the index, never repeating the token', () => {
    const { supplier } = setUp();
    for (const bad of ['has space', TOKEN.toUpperCase(), TOKEN.slice(1), `${TOKEN}0`, `${TOKEN.slice(1)}g`, '']) {
      const err = errorOf(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', shmRingTokens: [TOKEN, bad] })) as InvalidRequestError;
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect(err.field).toBe('shm_ring_tokens');
      expect(err.message).toContain('shm_ring_tokens[1] is not a ring token');
      expect(err.message).toContain('32 lowercase hex digits');
      if (bad !== '') expect(err.message).not.toContain(bad);
    }
    expect(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', shmRingTokens: Array(65).fill(TOKEN) })).toThrow(
      'shm_ring_tokens has 65 tokens; at most 64 are allowed',
    );
    expect(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', shmRingTokens: [TOKEN] })).not.toThrow();
  });
});

describe('ring names at the supplier', () => {
  const named = (ringName: string, sequence = 1, streamId = 'cam-1'): Frame => ({ ...refFrame(sequence, 0), streamId, shmRef: { ringName, slot: 0, slotSequence: 2, crc32: 0 } });

  it.each(['..', '.', 'a/b', '', '/dev/shm', 'x'.repeat(201), 'sp ace'])('refuses the ring name %j, naming the field', (ringName) => {
    const { supplier, opened } = setUp();
    const err = errorOf(() => supplier.publish(named(ringName))) as InvalidRequestError;
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err.field).toBe('frame.shm_ref.ring_name');
    expect(err.message).toContain('is not a ring name');
    expect(opened).toEqual([]);
    expect(supplier.rings()).toEqual([]);
  });

  it('remembers at most 8 rings per stream: 30,000 distinct names leave 8 listed and 8 held', () => {
    const { supplier } = setUp();
    // A worker keeps the stream alive between the publishers.
    supplier.subscribe({ workerId: 'w', streamId: 'cam-1' });
    let refused = 0;
    for (let i = 0; i < 30_000; i++) {
      // One publisher per frame, as an attacker reconnecting after each refusal would.
      const publisher = supplier.openPublisher();
      try {
        publisher.publish(named(`ring-${i}`));
      } catch (err) {
        expect(err).toMatchObject({ limit: 'ringsPerStream', max: MAX_RINGS_PER_STREAM });
        refused++;
      }
      publisher.close();
    }
    expect(refused).toBe(30_000 - MAX_RINGS_PER_STREAM);
    expect(supplier.rings()).toHaveLength(MAX_RINGS_PER_STREAM);
    expect(supplier.sharedMemory.ringNames).toHaveLength(MAX_RINGS_PER_STREAM);
  });

  it('refuses a ninth ring of one stream with RESOURCE_EXHAUSTED wording, while the rings in use carry on', () => {
    const { supplier } = setUp();
    const capture = supplier.openPublisher();
    capture.publish(named('real', 1));
    for (let i = 1; i < MAX_RINGS_PER_STREAM; i++) supplier.publish(named(`other-${i}`));
    const err = errorOf(() => supplier.publish(named('one-too-many'))) as SupplierLimitError;
    expect(err).toBeInstanceOf(SupplierLimitError);
    expect(err.message).toBe(
      `frame.shm_ref.ring_name "one-too-many" would be ring 9 of stream "cam-1" (at most 8; a name unused for ${RING_NAME_EXPIRY_MS} ms is forgotten)`,
    );
    expect(() => capture.publish(named('real', 2))).not.toThrow();
    expect(supplier.rings().map((r) => r.ringName)).toContain('real');
  });

  it('bounds the rings of all streams together', () => {
    const { supplier } = setUp(undefined, { maxStreams: 64 });
    let refused: unknown;
    for (let stream = 0; stream < 17 && refused === undefined; stream++) {
      for (let i = 0; i < MAX_RINGS_PER_STREAM; i++) {
        try {
          supplier.publish(named(`ring-${stream}-${i}`, 1, `cam-${stream}`));
        } catch (err) {
          refused = err;
          break;
        }
      }
    }
    expect(refused).toMatchObject({ limit: 'rings', max: MAX_RINGS });
    expect(supplier.rings()).toHaveLength(MAX_RINGS);
  });

  it('forgets a name unused for the expiry, closing its reader, unless its writer is alive', () => {
    const reader = new CountingRingReader();
    const { supplier, clock } = setUp(reader);
    const capture = supplier.openPublisher();
    capture.publish(named('kept', 1));
    for (let i = 1; i < MAX_RINGS_PER_STREAM; i++) supplier.publish(named(`stale-${i}`));
    expect(() => supplier.publish(named('new'))).toThrow(SupplierLimitError);

    // Every writer is gone: past the expiry only the names still used are remembered.
    reader.status = 'gone';
    clock.ms += RING_NAME_EXPIRY_MS / 2;
    capture.publish(named('kept', 2));
    clock.ms += RING_NAME_EXPIRY_MS / 2 + 1;
    expect(supplier.rings().map((r) => r.ringName)).toEqual(['kept']);
    expect(reader.closed).toBe(true); // the stale names' reader (one object in this test) was closed
    expect(() => supplier.publish(named('new'))).not.toThrow();

    // A paused capture whose writer is alive keeps its ring listed however long it publishes nothing.
    reader.status = 'alive';
    clock.ms += 10 * RING_NAME_EXPIRY_MS;
    expect(supplier.rings().map((r) => r.ringName)).toEqual(['kept', 'new']);
  });

  it('notes a forgotten ring again when its publisher resumes, and forgets the rings of a stream that went away', () => {
    const reader = new CountingRingReader();
    const { supplier, clock, opened } = setUp(reader);
    const capture = supplier.openPublisher();
    capture.publish(named('resumes', 1));
    reader.status = 'gone';
    clock.ms += RING_NAME_EXPIRY_MS + 1;
    expect(supplier.rings()).toEqual([]);
    reader.status = 'alive';
    capture.publish(named('resumes', 2));
    expect(supplier.rings()).toEqual([{ ringName: 'resumes', streamId: 'cam-1' }]);
    expect(opened).toEqual(['resumes', 'resumes']);
    capture.close();
    expect(supplier.rings()).toEqual([]);
    expect(supplier.sharedMemory.ringNames).toEqual([]);
  });

  it('tries a ring that cannot be opened at most once per interval however many frames name it, and reports it once', () => {
    let attempts = 0;
    const errors: string[] = [];
    const { supplier, clock } = setUp(undefined, {
      openRingReader: () => {
        attempts++;
        throw new Error('no such ring');
      },
      onRingOpenError: (name) => errors.push(name),
    });
    const worker = supplier.subscribe({ workerId: 'w', streamId: 'cam-1' });
    for (let seq = 1; seq <= 2500; seq++) {
      // A publisher that alternates between two rings notes each again on every frame.
      supplier.publish(named(seq % 2 === 0 ? 'missing-a' : 'missing-b', seq));
      worker.takeDelivery();
      clock.ms += 1;
    }
    // 2500 ms: the first try of each, then one retry of each per RING_REOPEN_INTERVAL_MS.
    expect(attempts).toBe(2 * (1 + Math.floor(2499 / RING_REOPEN_INTERVAL_MS)));
    expect(errors).toEqual(['missing-b', 'missing-a']);
  });
});
