// The writing side of the frame ring: one writer per ring, which never waits for readers. Each
// write takes the next slot round-robin under its sequence lock (docs/shm.md, "Writing").
import { randomBytes, randomInt } from 'node:crypto';
import { statSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import type { FrameRingOptions, RingFrameMeta, RingFrameRef } from './contract';
import { RingClosedError, RingFrameError, RingOptionsError, RingOwnedError, RingSpaceError } from './errors';
import {
  HEADER_BYTES,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_STALE_MS,
  HeaderOffset,
  headerFacts,
  LAYOUT_VERSION,
  pidNamespaceId,
  readHeaderFile,
  RING_MAGIC_HEAD32,
  RING_MAGIC_TEXT,
  RingGeometry,
  ringGeometry,
  SHM_DIR,
  SLOT_HEADER_BYTES,
  slotOffset,
  SlotOffset,
  STREAM_ID_MAX_BYTES,
  TOKEN_BYTES,
  validateRingName,
  writerAlive,
} from './layout';
import { shmAddon } from './native';

export const DEFAULT_RING_MODE = 0o600;
/** Slot sequences start at a random even value below 2^48 (so that a reference from a former
 *  ring of the same name almost never matches) and stay far below 2^53 for any real lifetime. */
const SEQUENCE_BASE_HALF_MAX = 2 ** 47;
const UINT32_SPAN = 0x100000000;

function writeUint64(buffer: Buffer, offset: number, value: number): void {
  buffer.writeUInt32LE(value % UINT32_SPAN, offset);
  buffer.writeUInt32LE(Math.floor(value / UINT32_SPAN), offset + 4);
}

function isUint32(value: number): boolean {
  return value >>> 0 === value;
}

function isUint53(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** Removes an object left by a dead writer; refuses if a live writer owns the name. */
function removeStaleRing(name: string): void {
  const header = readHeaderFile(name);
  if (header === undefined) return;
  const facts = headerFacts(header);
  if (facts.magicValid && writerAlive(facts, HEARTBEAT_STALE_MS)) {
    throw new RingOwnedError(facts.writerPid, `ring '${name}' is owned by a live writer (pid ${facts.writerPid}); close it first or choose another name`);
  }
  if (!facts.magicValid && Date.now() - statSync(`${SHM_DIR}/${name}`).mtimeMs < HEARTBEAT_STALE_MS) {
    throw new RingOwnedError(0, `shared-memory object '${name}' exists and is not a complete ring yet (another writer may be creating it)`);
  }
  shmAddon().unlink(name);
}

export class FrameRingWriter {
  /** Hex of the ring's random 128-bit identity: a reader that shows the same token maps this ring. */
  readonly token: string;
  private readonly sequences: number[];
  private readonly heartbeatTimer: NodeJS.Timeout;
  private mapping: Buffer | undefined;
  private nextSlot = 0;
  private framesWritten = 0;

  private constructor(
    readonly name: string,
    private readonly geometry: RingGeometry,
    mapping: Buffer,
    token: Buffer,
  ) {
    this.mapping = mapping;
    this.token = token.toString('hex');
    const base = randomInt(1, SEQUENCE_BASE_HALF_MAX) * 2;
    this.sequences = new Array<number>(geometry.slotCount).fill(base);
    const now = Date.now();
    mapping.write(RING_MAGIC_TEXT.slice(4), 4, 'latin1');
    mapping.writeUInt32LE(LAYOUT_VERSION, HeaderOffset.layoutVersion);
    mapping.writeUInt32LE(HEADER_BYTES, HeaderOffset.headerBytes);
    mapping.writeUInt32LE(geometry.slotCount, HeaderOffset.slotCount);
    mapping.writeUInt32LE(SLOT_HEADER_BYTES, HeaderOffset.slotHeaderBytes);
    writeUint64(mapping, HeaderOffset.slotBytes, geometry.slotBytes);
    writeUint64(mapping, HeaderOffset.slotStride, geometry.slotStride);
    mapping.writeUInt32LE(process.pid, HeaderOffset.writerPid);
    mapping.writeUInt32LE(pidNamespaceId(), HeaderOffset.pidNamespace);
    writeUint64(mapping, HeaderOffset.heartbeatMs, now);
    writeUint64(mapping, HeaderOffset.createdMs, now);
    token.copy(mapping, HeaderOffset.token);
    for (let slot = 0; slot < geometry.slotCount; slot++) writeUint64(mapping, slotOffset(geometry, slot), base);
    // Last: the magic's head, with release order, publishes the complete header.
    shmAddon().store32Release(mapping, HeaderOffset.magic, RING_MAGIC_HEAD32);
    this.heartbeatTimer = setInterval(() => this.beat(), HEARTBEAT_INTERVAL_MS).unref();
  }

  /** Creates the ring's shared-memory object (removing one left by a dead writer). */
  static create(options: FrameRingOptions): FrameRingWriter {
    const { name, mode = DEFAULT_RING_MODE } = options;
    validateRingName(name);
    const geometry = ringGeometry(options.slotCount, options.slotBytes);
    if (!Number.isInteger(mode) || (mode & ~0o777) !== 0 || (mode & 0o600) !== 0o600) {
      throw new RingOptionsError(`ring mode 0o${mode.toString(8)} must be permission bits that include owner read-write (0o600)`);
    }
    removeStaleRing(name);
    const free = shmAddon().freeBytes(SHM_DIR);
    if (geometry.totalBytes > free) {
      throw new RingSpaceError(
        geometry.totalBytes,
        free,
        `ring '${name}' needs ${geometry.totalBytes} bytes (${geometry.slotCount} slots of ${geometry.slotBytes} bytes) but ${SHM_DIR} has ${free} bytes free; ` +
          'use fewer or smaller slots, or enlarge /dev/shm (docker: --shm-size)',
      );
    }
    let mapping: Buffer;
    try {
      mapping = shmAddon().create(name, geometry.totalBytes, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new RingOwnedError(0, `ring '${name}' was created by another writer at the same time`);
      throw err;
    }
    return new FrameRingWriter(name, geometry, mapping, randomBytes(TOKEN_BYTES));
  }

  get slotCount(): number {
    return this.geometry.slotCount;
  }

  get slotBytes(): number {
    return this.geometry.slotBytes;
  }

  /** Stores a frame in the next slot and returns its reference. Never waits: the oldest slot is overwritten. */
  write(meta: RingFrameMeta, data: Uint8Array): RingFrameRef {
    const mapping = this.mapping;
    if (mapping === undefined) throw new RingClosedError(`ring '${this.name}' is closed`);
    if (data.length > this.geometry.slotBytes) {
      throw new RingFrameError(`frame ${meta.sequence} of ${data.length} bytes exceeds the ${this.geometry.slotBytes}-byte slots of ring '${this.name}'`);
    }
    if (!isUint32(meta.width) || !isUint32(meta.height) || !isUint32(meta.pixelFormat) || !isUint53(meta.sequence) || !isUint53(meta.captureTimeUs)) {
      throw new RingFrameError(`frame ${meta.sequence} has metadata outside the ring's field ranges: ${JSON.stringify(meta)}`);
    }
    const streamIdBytes = Buffer.byteLength(meta.streamId, 'utf8');
    if (streamIdBytes > STREAM_ID_MAX_BYTES) {
      throw new RingFrameError(`stream id of ${streamIdBytes} bytes exceeds the ${STREAM_ID_MAX_BYTES}-byte field of ring '${this.name}'`);
    }
    const slot = this.nextSlot;
    this.nextSlot = slot + 1 === this.geometry.slotCount ? 0 : slot + 1;
    const base = slotOffset(this.geometry, slot);
    const checksum = crc32(data);
    const sequence = this.sequences[slot];

    shmAddon().storeFence64(mapping, base + SlotOffset.sequence, sequence + 1);
    writeUint64(mapping, base + SlotOffset.frameSequence, meta.sequence);
    writeUint64(mapping, base + SlotOffset.captureTimeUs, meta.captureTimeUs);
    mapping.writeUInt32LE(meta.width, base + SlotOffset.width);
    mapping.writeUInt32LE(meta.height, base + SlotOffset.height);
    mapping.writeUInt32LE(meta.pixelFormat, base + SlotOffset.pixelFormat);
    mapping.writeUInt32LE(data.length, base + SlotOffset.length);
    mapping.writeUInt32LE(checksum, base + SlotOffset.crc32);
    mapping.writeUInt32LE(streamIdBytes, base + SlotOffset.streamIdLength);
    mapping.write(meta.streamId, base + SlotOffset.streamId, streamIdBytes, 'utf8');
    mapping.set(data, base + SlotOffset.payload);
    shmAddon().store64Release(mapping, base + SlotOffset.sequence, sequence + 2);

    this.sequences[slot] = sequence + 2;
    this.framesWritten++;
    shmAddon().store64Release(mapping, HeaderOffset.framesWritten, this.framesWritten);
    shmAddon().store64Release(mapping, HeaderOffset.heartbeatMs, Date.now());
    return { ringName: this.name, slot, slotSequence: sequence + 2, crc32: checksum, length: data.length };
  }

  /** Stamps the ring as closed (readers see the writer gone), unlinks it and unmaps it. Idempotent. */
  close(): void {
    const mapping = this.mapping;
    if (mapping === undefined) return;
    this.mapping = undefined;
    clearInterval(this.heartbeatTimer);
    shmAddon().store32Release(mapping, HeaderOffset.writerPid, 0);
    shmAddon().store64Release(mapping, HeaderOffset.heartbeatMs, 0);
    // Unlink only our own object: after a long stall a new writer may have replaced it.
    const current = readHeaderFile(this.name);
    if (current !== undefined && headerFacts(current).token === this.token) shmAddon().unlink(this.name);
    shmAddon().close(mapping);
  }

  private beat(): void {
    if (this.mapping !== undefined) shmAddon().store64Release(this.mapping, HeaderOffset.heartbeatMs, Date.now());
  }
}
