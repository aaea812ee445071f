import type { Frame } from '@framewire/proto';
import type { RingFrameRef, RingReadResult } from '@framewire/shm';
import { FrameSupplier } from './frame-supplier';
import { RING_REOPEN_INTERVAL_MS, SupplierRingReader } from './shared-memory';
import { InvalidRequestError } from './errors';

const RING = 'fw-test-cam-1';
const TOKEN = '0123456789abcdef';

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

function setUp(reader = new CountingRingReader()) {
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
    ['asked for shared memory with a wrong token', { preferSharedMemory: true, shmRingTokens: ['feedface'] }],
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
    expect(refs.takeDelivery()?.frame.shmRef).toBeDefined();
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

  it('rejects malformed ring tokens, naming the field', () => {
    const { supplier } = setUp();
    expect(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', shmRingTokens: ['has space'] })).toThrow(InvalidRequestError);
    expect(() => supplier.subscribe({ workerId: 'w', streamId: 'cam-1', shmRingTokens: Array(65).fill('ab') })).toThrow(
      'shm_ring_tokens has 65 tokens; at most 64 are allowed',
    );
  });
});
