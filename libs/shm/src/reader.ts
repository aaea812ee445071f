// The reading side of the frame ring. A reader never blocks the writer: it checks a slot's
// sequence lock before and after using the bytes, and reports a slot rewritten meanwhile as
// 'overwritten' (a counted drop), never as data (docs/shm.md, "Reading").
import { crc32 } from 'node:zlib';
import type { RingFrameMeta, RingFrameRef, RingReadFailure, RingReadResult, RingReaderStats } from './contract';
import { RingClosedError, RingLayoutError, RingNotFoundError } from './errors';
import {
  HEARTBEAT_STALE_MS,
  HeaderOffset,
  headerFacts,
  parseHeader,
  readHeaderFile,
  RING_MAGIC_HEAD32,
  RingGeometry,
  slotOffset,
  SlotOffset,
  STREAM_ID_MAX_BYTES,
  validateRingName,
  writerAlive,
} from './layout';
import { shmAddon } from './native';

export interface FrameRingReaderOptions {
  /** Check every frame's CRC-32 against its reference (default true). A mismatch is counted and dropped. */
  verifyChecksum?: boolean;
  /** Heartbeat age after which the writer counts as gone (default HEARTBEAT_STALE_MS). */
  heartbeatStaleMs?: number;
}

/** 'alive': the writer runs. 'gone': its pid is dead, its heartbeat stale, or it closed the ring.
 *  'replaced': the name now holds another ring (a restarted writer): `reattach()` to follow it. */
export type RingWriterStatus = 'alive' | 'gone' | 'replaced';

/** The newest frame of a ring: its reference and metadata, read consistently under the slot's lock. */
export interface RingLatestFrame {
  ref: RingFrameRef;
  meta: RingFrameMeta;
}

/** A frame's bytes lent in place: `data` is a view into the mapping, not a copy. `stillValid()` re-checks
 *  the slot's sequence (acquire): while it returns true, the bytes read so far were the frame's; once
 *  false (the writer rewrote the slot, or the reader was closed or reattached) whatever was computed
 *  from `data` must be discarded. */
export type RingBorrowResult = { ok: true; data: Buffer; stillValid(): boolean } | { ok: false; reason: RingReadFailure };

const UINT32_SPAN = 0x100000000;
/** A snapshot of slot metadata that keeps racing the writer is retried this often before giving up. */
const SNAPSHOT_ATTEMPTS = 4;

function readUint64(buffer: Buffer, offset: number): number {
  return buffer.readUInt32LE(offset) + buffer.readUInt32LE(offset + 4) * UINT32_SPAN;
}

interface Attachment {
  mapping: Buffer;
  geometry: RingGeometry;
  token: string;
}

function attach(name: string): Attachment {
  let mapping: Buffer;
  try {
    mapping = shmAddon().open(name, false);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new RingNotFoundError(`no shared-memory ring named '${name}'`);
    throw err;
  }
  try {
    if (mapping.length < HeaderOffset.framesWritten + 8 || shmAddon().load32Acquire(mapping, HeaderOffset.magic) !== RING_MAGIC_HEAD32) {
      throw new RingLayoutError(`shared-memory object '${name}' is not a framewire ring (or is still being created)`);
    }
    const geometry = parseHeader(name, mapping);
    return { mapping, geometry, token: headerFacts(mapping).token };
  } catch (err) {
    shmAddon().close(mapping);
    throw err;
  }
}

export class FrameRingReader {
  private attachment: Attachment | undefined;
  private readonly verifyChecksum: boolean;
  private readonly heartbeatStaleMs: number;
  private readonly counters: RingReaderStats = { reads: 0, overwritten: 0, checksumFailures: 0, invalidRefs: 0 };

  private constructor(
    readonly name: string,
    options: FrameRingReaderOptions,
  ) {
    this.verifyChecksum = options.verifyChecksum ?? true;
    this.heartbeatStaleMs = options.heartbeatStaleMs ?? HEARTBEAT_STALE_MS;
    this.attachment = attach(name);
  }

  /** Maps an existing ring read-only. Throws RingNotFoundError or RingLayoutError. */
  static open(name: string, options: FrameRingReaderOptions = {}): FrameRingReader {
    validateRingName(name);
    return new FrameRingReader(name, options);
  }

  /** The token of the ring this reader maps (compare with the writer's to prove it is the same ring). */
  get token(): string {
    return this.attached().token;
  }

  get slotCount(): number {
    return this.attached().geometry.slotCount;
  }

  get slotBytes(): number {
    return this.attached().geometry.slotBytes;
  }

  /** Counters since open (kept across reattach): `reads` counts frames returned. */
  get stats(): RingReaderStats {
    return { ...this.counters };
  }

  /** Copies a frame's bytes out of the ring, or says why it cannot: overwritten, checksum, invalid-ref. */
  read(ref: RingFrameRef): RingReadResult {
    const { mapping, geometry } = this.attached();
    if (!this.refFits(ref, geometry)) return { ok: false, reason: 'invalid-ref' };
    const base = slotOffset(geometry, ref.slot);
    const before = shmAddon().load64Acquire(mapping, base + SlotOffset.sequence);
    if (before !== ref.slotSequence) return this.overwritten();
    const start = base + SlotOffset.payload;
    const data = Buffer.allocUnsafe(ref.length);
    mapping.copy(data, 0, start, start + ref.length);
    if (shmAddon().fenceLoad64(mapping, base + SlotOffset.sequence) !== before) return this.overwritten();
    if (this.verifyChecksum && crc32(data) !== ref.crc32) {
      this.counters.checksumFailures++;
      return { ok: false, reason: 'checksum' };
    }
    this.counters.reads++;
    return { ok: true, data };
  }

  /**
   * Zero-copy without a callback: a view of the frame's bytes inside the ring, checked against the
   * slot's sequence (and, with verifyChecksum, its CRC-32, computed over the view in place). The writer
   * may rewrite the slot at any time afterwards: call `stillValid()` after using the bytes and discard
   * the result when it returns false. The first false counts as an overwrite, as in `read`; `reads`
   * counts the borrow itself.
   */
  borrow(ref: RingFrameRef): RingBorrowResult {
    const checked = this.checkedView(ref);
    if (!checked.ok) return checked;
    const { attachment, data, sequenceOffset } = checked;
    this.counters.reads++;
    let valid = true;
    const stillValid = (): boolean => {
      if (!valid) return false;
      // A closed or replaced mapping reads zeros (docs/shm.md): the view no longer shows the frame.
      valid = this.attachment === attachment && shmAddon().fenceLoad64(attachment.mapping, sequenceOffset) === ref.slotSequence;
      if (!valid) this.counters.overwritten++;
      return valid;
    };
    return { ok: true, data, stillValid };
  }

  /**
   * Zero-copy: calls `fn` with a view of the frame's bytes inside the ring and returns its result,
   * or undefined if the slot was overwritten (before, during or after `fn`) or fails its checksum.
   * The view is only valid during `fn`: it must not be kept, and whatever `fn` derived from it is
   * discarded unless this returns a value. Overwrites and checksum failures are counted as in `read`.
   */
  withFrame<T>(ref: RingFrameRef, fn: (view: Buffer) => T): T | undefined {
    const checked = this.checkedView(ref);
    if (!checked.ok) return undefined;
    const result = fn(checked.data);
    if (shmAddon().fenceLoad64(checked.attachment.mapping, checked.sequenceOffset) !== ref.slotSequence) return this.overwrittenUndefined();
    this.counters.reads++;
    return result;
  }

  /** The view of a frame's bytes inside the ring, checked against the slot's sequence and, with
   *  verifyChecksum, its CRC-32 computed in place; failures are counted. Shared by borrow and withFrame. */
  private checkedView(
    ref: RingFrameRef,
  ): { ok: true; attachment: Attachment; data: Buffer; sequenceOffset: number } | { ok: false; reason: RingReadFailure } {
    const attachment = this.attached();
    const { mapping, geometry } = attachment;
    if (!this.refFits(ref, geometry)) return { ok: false, reason: 'invalid-ref' };
    const base = slotOffset(geometry, ref.slot);
    const sequenceOffset = base + SlotOffset.sequence;
    if (shmAddon().load64Acquire(mapping, sequenceOffset) !== ref.slotSequence) return this.overwritten();
    const data = mapping.subarray(base + SlotOffset.payload, base + SlotOffset.payload + ref.length);
    if (this.verifyChecksum) {
      const checksum = crc32(data);
      // A checksum is only meaningful over bytes that did not change while it was computed.
      if (shmAddon().fenceLoad64(mapping, sequenceOffset) !== ref.slotSequence) return this.overwritten();
      if (checksum !== ref.crc32) {
        this.counters.checksumFailures++;
        return { ok: false, reason: 'checksum' };
      }
    }
    return { ok: true, attachment, data, sequenceOffset };
  }

  /** The newest complete frame's reference and metadata, or undefined if none was written yet. */
  latest(): RingLatestFrame | undefined {
    const { mapping, geometry } = this.attached();
    for (let attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
      const written = shmAddon().load64Acquire(mapping, HeaderOffset.framesWritten);
      if (written === 0) return undefined;
      const slot = (written - 1) % geometry.slotCount;
      const base = slotOffset(geometry, slot);
      const before = shmAddon().load64Acquire(mapping, base + SlotOffset.sequence);
      if (before % 2 !== 0) continue;
      const streamIdLength = Math.min(mapping.readUInt32LE(base + SlotOffset.streamIdLength), STREAM_ID_MAX_BYTES);
      const meta: RingFrameMeta = {
        streamId: mapping.toString('utf8', base + SlotOffset.streamId, base + SlotOffset.streamId + streamIdLength),
        sequence: readUint64(mapping, base + SlotOffset.frameSequence),
        captureTimeUs: readUint64(mapping, base + SlotOffset.captureTimeUs),
        width: mapping.readUInt32LE(base + SlotOffset.width),
        height: mapping.readUInt32LE(base + SlotOffset.height),
        pixelFormat: mapping.readUInt32LE(base + SlotOffset.pixelFormat),
      };
      const ref: RingFrameRef = {
        ringName: this.name,
        slot,
        slotSequence: before,
        crc32: mapping.readUInt32LE(base + SlotOffset.crc32),
        length: mapping.readUInt32LE(base + SlotOffset.length),
      };
      if (shmAddon().fenceLoad64(mapping, base + SlotOffset.sequence) === before) return { ref, meta };
    }
    return undefined;
  }

  /** Whether the ring's writer still runs, is gone, or was replaced by a new ring of the same name. */
  writerStatus(): RingWriterStatus {
    const { mapping, token } = this.attached();
    const current = readHeaderFile(this.name);
    if (current === undefined) return 'gone';
    const facts = headerFacts(current);
    if (facts.magicValid && facts.token !== token) return 'replaced';
    const own = headerFacts(mapping);
    own.heartbeatMs = shmAddon().load64Acquire(mapping, HeaderOffset.heartbeatMs);
    own.writerPid = shmAddon().load32Acquire(mapping, HeaderOffset.writerPid);
    return writerAlive(own, this.heartbeatStaleMs) ? 'alive' : 'gone';
  }

  /** Maps the ring that now has this name (after a writer restart), keeping the counters. */
  reattach(): void {
    const next = attach(this.name);
    if (this.attachment !== undefined) shmAddon().close(this.attachment.mapping);
    this.attachment = next;
  }

  /** Unmaps the ring. Idempotent. */
  close(): void {
    if (this.attachment === undefined) return;
    shmAddon().close(this.attachment.mapping);
    this.attachment = undefined;
  }

  private attached(): Attachment {
    if (this.attachment === undefined) throw new RingClosedError(`reader of ring '${this.name}' is closed`);
    return this.attachment;
  }

  private refFits(ref: RingFrameRef, geometry: RingGeometry): boolean {
    const fits =
      ref.ringName === this.name &&
      Number.isInteger(ref.slot) &&
      ref.slot >= 0 &&
      ref.slot < geometry.slotCount &&
      Number.isInteger(ref.length) &&
      ref.length >= 0 &&
      ref.length <= geometry.slotBytes &&
      ref.slotSequence % 2 === 0;
    if (!fits) this.counters.invalidRefs++;
    return fits;
  }

  private overwritten(): { ok: false; reason: 'overwritten' } {
    this.counters.overwritten++;
    return { ok: false, reason: 'overwritten' };
  }

  private overwrittenUndefined(): undefined {
    this.counters.overwritten++;
    return undefined;
  }
}
