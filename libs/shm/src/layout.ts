// The ring's byte layout (docs/shm.md is the normative description) and the header checks shared
// by the writer and the reader. All integers little-endian; 64-bit fields 8-byte aligned.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { RingLayoutError, RingOptionsError } from './errors';

export const SHM_DIR = '/dev/shm';
export const RING_MAGIC_TEXT = 'FWSHMRNG';
/** The magic's first four bytes ("FWSH") as a little-endian uint32: stored last, with release
 *  order, so a reader that sees them sees a complete header. */
export const RING_MAGIC_HEAD32 = 0x48535746;
export const LAYOUT_VERSION = 1;
export const HEADER_BYTES = 256;
export const SLOT_HEADER_BYTES = 128;
/** Slots start on cache-line boundaries so that two slots never share a line. */
export const SLOT_ALIGNMENT = 64;
export const STREAM_ID_MAX_BYTES = 80;
export const TOKEN_BYTES = 16;
/** Characters and length of a ring name (a POSIX shared-memory object name without its slash);
 *  "." and ".." match it but are no names (isRingName). */
export const RING_NAME_PATTERN = /^[A-Za-z0-9._-]{1,200}$/;
/** A ring's identity token as readers present it: the header's TOKEN_BYTES as lowercase hex. */
export const RING_TOKEN_PATTERN = new RegExp(`^[0-9a-f]{${2 * TOKEN_BYTES}}$`);
/** A slot's payload length is a uint32. */
export const SLOT_BYTES_MAX = 0xffffffff;
/** Sequence-lock values stay exact JavaScript numbers. */
export const SEQUENCE_MAX = Number.MAX_SAFE_INTEGER;

export const HeaderOffset = {
  magic: 0,
  layoutVersion: 8,
  headerBytes: 12,
  slotCount: 16,
  slotHeaderBytes: 20,
  slotBytes: 24,
  slotStride: 32,
  writerPid: 40,
  pidNamespace: 44,
  heartbeatMs: 48,
  createdMs: 56,
  token: 64,
  framesWritten: 80,
} as const;

export const SlotOffset = {
  sequence: 0,
  frameSequence: 8,
  captureTimeUs: 16,
  width: 24,
  height: 28,
  pixelFormat: 32,
  length: 36,
  crc32: 40,
  streamIdLength: 44,
  streamId: 48,
  payload: SLOT_HEADER_BYTES,
} as const;

/** The writer refreshes the heartbeat at every write and at least this often when idle. */
export const HEARTBEAT_INTERVAL_MS = 500;
/** A heartbeat older than this means the writer is gone (hung, or dead in another pid namespace). */
export const HEARTBEAT_STALE_MS = 3000;

export interface RingGeometry {
  slotCount: number;
  slotBytes: number;
  slotStride: number;
  totalBytes: number;
}

/** Whether `name` can name a ring: RING_NAME_PATTERN, and not "." or ".." (which would open
 *  /dev/shm itself or /dev). */
export function isRingName(name: string): boolean {
  return RING_NAME_PATTERN.test(name) && name !== '.' && name !== '..';
}

export function validateRingName(name: string): void {
  if (!isRingName(name)) {
    throw new RingOptionsError(`ring name ${JSON.stringify(name.slice(0, 220))} is not 1-200 of A-Z a-z 0-9 . _ - (nor "." or "..")`);
  }
}

export function ringGeometry(slotCount: number, slotBytes: number): RingGeometry {
  if (!Number.isInteger(slotCount) || slotCount < 1 || slotCount > 0xffffffff) {
    throw new RingOptionsError(`slotCount ${slotCount} is not an integer from 1 to ${0xffffffff}`);
  }
  if (!Number.isInteger(slotBytes) || slotBytes < 1 || slotBytes > SLOT_BYTES_MAX) {
    throw new RingOptionsError(`slotBytes ${slotBytes} is not an integer from 1 to ${SLOT_BYTES_MAX}`);
  }
  const slotStride = Math.ceil((SLOT_HEADER_BYTES + slotBytes) / SLOT_ALIGNMENT) * SLOT_ALIGNMENT;
  return { slotCount, slotBytes, slotStride, totalBytes: HEADER_BYTES + slotCount * slotStride };
}

export function slotOffset(geometry: RingGeometry, slot: number): number {
  return HEADER_BYTES + slot * geometry.slotStride;
}

/** The identity of this process's pid namespace: pids are comparable only within one. */
export function pidNamespaceId(): number {
  try {
    return statSync('/proc/self/ns/pid').ino % 0x100000000;
  } catch {
    return 0;
  }
}

function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface HeaderFacts {
  magicValid: boolean;
  layoutVersion: number;
  writerPid: number;
  pidNamespace: number;
  heartbeatMs: number;
  token: string;
}

/** Reads the identity and liveness fields (from a mapping or from the first bytes of the file). */
export function headerFacts(header: Buffer): HeaderFacts {
  return {
    magicValid: header.length >= HEADER_BYTES && header.toString('latin1', 0, 8) === RING_MAGIC_TEXT,
    layoutVersion: header.length >= HEADER_BYTES ? header.readUInt32LE(HeaderOffset.layoutVersion) : 0,
    writerPid: header.length >= HEADER_BYTES ? header.readUInt32LE(HeaderOffset.writerPid) : 0,
    pidNamespace: header.length >= HEADER_BYTES ? header.readUInt32LE(HeaderOffset.pidNamespace) : 0,
    heartbeatMs: header.length >= HEADER_BYTES ? Number(header.readBigUInt64LE(HeaderOffset.heartbeatMs)) : 0,
    token: header.length >= HEADER_BYTES ? header.toString('hex', HeaderOffset.token, HeaderOffset.token + TOKEN_BYTES) : '',
  };
}

/** Whether the writer that stamped this header still runs: its pid (when in our pid namespace) and its heartbeat. */
export function writerAlive(facts: HeaderFacts, staleMs: number, now = Date.now()): boolean {
  if (facts.writerPid === 0) return false; // stamped by a clean close
  if (facts.pidNamespace === pidNamespaceId() && !processAlive(facts.writerPid)) return false;
  return now - facts.heartbeatMs <= staleMs;
}

/** The header as it is now in /dev/shm, or undefined when no object has the name. */
export function readHeaderFile(name: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(`${SHM_DIR}/${name}`, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    const bytes = readSync(fd, header, 0, HEADER_BYTES, 0);
    return header.subarray(0, bytes);
  } finally {
    closeSync(fd);
  }
}

/** The geometry a mapped header declares, checked against this layout and the mapping's size. */
export function parseHeader(name: string, mapping: Buffer): RingGeometry {
  const facts = headerFacts(mapping);
  if (!facts.magicValid) throw new RingLayoutError(`shared-memory object '${name}' is not a framewire ring (or is still being created)`);
  if (facts.layoutVersion !== LAYOUT_VERSION) {
    throw new RingLayoutError(`ring '${name}' has layout version ${facts.layoutVersion}; this reader knows ${LAYOUT_VERSION}`);
  }
  const geometry = ringGeometry(mapping.readUInt32LE(HeaderOffset.slotCount), Number(mapping.readBigUInt64LE(HeaderOffset.slotBytes)));
  const declaredStride = Number(mapping.readBigUInt64LE(HeaderOffset.slotStride));
  if (mapping.readUInt32LE(HeaderOffset.headerBytes) !== HEADER_BYTES || declaredStride !== geometry.slotStride || mapping.length < geometry.totalBytes) {
    throw new RingLayoutError(`ring '${name}' declares a geometry that does not fit its ${mapping.length} bytes`);
  }
  return geometry;
}
