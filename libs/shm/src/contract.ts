// The API of the shared-memory frame ring that the rest of framewire codes against (capture
// writes, the supplier reads once per frame, the frame client resolves references). The ring's
// byte layout is docs/shm.md.

/** What a frame carries besides its bytes (mirrors framewire.v1.Frame's fields). */
export interface RingFrameMeta {
  streamId: string;
  sequence: number;
  captureTimeUs: number;
  width: number;
  height: number;
  pixelFormat: number;
}

/** Where a written frame lies: exactly the fields of framewire.v1.ShmFrameRef plus the length
 *  (Frame.size_bytes on the wire). */
export interface RingFrameRef {
  ringName: string;
  slot: number;
  /** The slot's sequence-lock value after the write (even). */
  slotSequence: number;
  crc32: number;
  length: number;
}

export interface FrameRingOptions {
  /** POSIX shared-memory object name without the leading slash: [A-Za-z0-9._-]{1,200}. */
  name: string;
  slotCount: number;
  /** Largest frame a slot holds (payload bytes). */
  slotBytes: number;
  /** Permission bits of the object: 0o600 by default (owner only); 0o660 for containers of one group. */
  mode?: number;
}

export type RingReadFailure =
  /** The slot was rewritten before or while it was read: counted as a drop, never returned. */
  | 'overwritten'
  /** The bytes do not match the reference's CRC-32: counted, dropped. */
  | 'checksum'
  /** The reference does not fit this ring (slot out of range, length above the slot size). */
  | 'invalid-ref';

export type RingReadResult = { ok: true; data: Uint8Array } | { ok: false; reason: RingReadFailure };

/** Counters of one reader. */
export interface RingReaderStats {
  reads: number;
  overwritten: number;
  checksumFailures: number;
  invalidRefs: number;
}
