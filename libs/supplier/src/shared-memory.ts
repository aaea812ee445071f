// Shared-memory frames at the supplier: the ring readers it opened (lazily, one per ring named by a
// published reference, closed when no stream names it any more), the tokens that workers must
// present to receive references, and each frame's bytes read from its ring once, however many
// workers need it as bytes.
import type { Frame } from '@framewire/proto';
import type { RingFrameRef, RingReadFailure, RingReadResult } from '@framewire/shm';

/** What the supplier needs of a ring reader; FrameRingReader of @framewire/shm is one. */
export interface SupplierRingReader {
  /** The identity token in the ring's header (changes when the writer recreates the ring). */
  readonly token: string;
  read(ref: RingFrameRef): RingReadResult;
  writerStatus(): 'alive' | 'gone' | 'replaced';
  reattach(): unknown;
  close(): void;
}

/** Opens the ring named `ringName` (throws when it cannot). */
export type OpenRingReader = (ringName: string) => SupplierRingReader;

/** A ring that failed to open is tried again after this long, not on every frame. */
export const RING_REOPEN_INTERVAL_MS = 1_000;

/** Why a frame's bytes could not be read: a ring read failure, or the ring could not be opened. */
export type FrameBytesFailure = RingReadFailure | 'ring-unavailable';

/** Counters of the supplier's ring reads (exported as metrics). */
export interface SharedMemoryReadStats {
  /** Frames read from a ring (one per frame that at least one worker took as bytes). */
  frameReads: number;
  /** Frames whose read failed, by reason; each is a drop for the workers that wanted its bytes. */
  failures: Record<FrameBytesFailure, number>;
  /** Times a ring's writer had restarted and the reader reattached. */
  reattaches: number;
  /** Rings the supplier holds open. */
  ringsOpen: number;
}

interface RingState {
  reader: SupplierRingReader | undefined;
  /** When opening last failed (wall-clock ms), to pace retries. */
  openFailedAtMs: number;
}

export interface SharedMemoryFramesOptions {
  /** Without it the supplier opens no ring: references are passed on only as they are, and byte
   *  workers drop them. */
  openRingReader?: OpenRingReader;
  /** Called on a ring's first failed open, not on each retry (the app logs it). */
  onOpenError?: (ringName: string, error: Error) => void;
  now?: () => number;
}

/** The supplier's ring readers and the bytes of referenced frames, read once per frame. */
export class SharedMemoryFrames {
  readonly stats: SharedMemoryReadStats = {
    frameReads: 0,
    failures: { overwritten: 0, checksum: 0, 'invalid-ref': 0, 'ring-unavailable': 0 },
    reattaches: 0,
    ringsOpen: 0,
  };
  private readonly rings = new Map<string, RingState>();
  /** Each referenced frame's bytes frame, or why there is none (frames are immutable once
   *  published, so the outcome of the one read holds for every worker). */
  private readonly bytesFrames = new WeakMap<Frame, Frame | FrameBytesFailure>();
  private readonly now: () => number;

  constructor(private readonly options: SharedMemoryFramesOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /**
   * A publisher's first reference into `ringName`: opens the ring if the supplier has not yet,
   * or, when it had, reattaches if its writer restarted (a new publisher is often a restarted
   * capture that recreated the ring under the same name).
   */
  attach(ringName: string): void {
    const ring = this.rings.get(ringName);
    if (ring?.reader === undefined) {
      this.open(ringName, ring);
      return;
    }
    if (ring.reader.writerStatus() === 'replaced') this.reattach(ring.reader);
  }

  /** Closes the reader of a ring no stream names any more (a later reference opens it again). */
  detach(ringName: string): void {
    const ring = this.rings.get(ringName);
    if (ring === undefined) return;
    this.rings.delete(ringName);
    if (ring.reader !== undefined) {
      ring.reader.close();
      this.stats.ringsOpen--;
    }
  }

  /** Whether the supplier holds `ringName` open and its writer still runs. */
  writerAlive(ringName: string): boolean {
    return this.rings.get(ringName)?.reader?.writerStatus() === 'alive';
  }

  /** The token of the ring the supplier holds open under `ringName`, if it could open it. */
  tokenOf(ringName: string): string | undefined {
    return this.rings.get(ringName)?.reader?.token;
  }

  /** The names of the rings the supplier holds open. */
  get ringNames(): string[] {
    return [...this.rings.keys()];
  }

  /**
   * `frame` (which carries a shm_ref) as a frame with its bytes inline, read from the ring the
   * first time any worker needs it and cached for the others; or why it cannot be had.
   */
  bytesFrame(frame: Frame): Frame | FrameBytesFailure {
    let outcome = this.bytesFrames.get(frame);
    if (outcome === undefined) {
      outcome = this.read(frame);
      this.bytesFrames.set(frame, outcome);
    }
    return outcome;
  }

  /** Closes every ring reader. */
  close(): void {
    for (const ring of this.rings.values()) ring.reader?.close();
    this.rings.clear();
    this.stats.ringsOpen = 0;
  }

  private read(frame: Frame): Frame | FrameBytesFailure {
    const shmRef = frame.shmRef;
    if (shmRef === undefined) throw new Error(`frame ${frame.sequence} of stream "${frame.streamId}" carries no shm_ref`);
    const ring = this.rings.get(shmRef.ringName);
    // No state: the name was forgotten (unused for long) after this frame was published.
    if (ring === undefined) return this.failed('ring-unavailable');
    const reader = ring.reader ?? this.open(shmRef.ringName, ring).reader;
    if (reader === undefined) return this.failed('ring-unavailable');
    const ref: RingFrameRef = { ...shmRef, length: frame.sizeBytes };
    let result = reader.read(ref);
    // A writer that restarted unnoticed: the reference is into the new ring, so reattach and read again.
    if (!result.ok && result.reason !== 'checksum' && reader.writerStatus() === 'replaced') {
      this.reattach(reader);
      result = reader.read(ref);
    }
    if (!result.ok) return this.failed(result.reason);
    this.stats.frameReads++;
    const bytes = result.data;
    const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { ...frame, shmRef: undefined, data };
  }

  private failed(reason: FrameBytesFailure): FrameBytesFailure {
    this.stats.failures[reason]++;
    return reason;
  }

  private reattach(reader: SupplierRingReader): void {
    reader.reattach();
    this.stats.reattaches++;
  }

  /** Opens `ringName` unless a recent attempt failed; returns its state (reader undefined on failure). */
  private open(ringName: string, existing: RingState | undefined): RingState {
    const ring = existing ?? { reader: undefined, openFailedAtMs: Number.NEGATIVE_INFINITY };
    if (existing === undefined) this.rings.set(ringName, ring);
    const open = this.options.openRingReader;
    if (open === undefined || this.now() - ring.openFailedAtMs < RING_REOPEN_INTERVAL_MS) return ring;
    try {
      ring.reader = open(ringName);
      this.stats.ringsOpen++;
    } catch (err) {
      // Reported once per ring, not on every retry.
      if (ring.openFailedAtMs === Number.NEGATIVE_INFINITY) this.options.onOpenError?.(ringName, err as Error);
      ring.openFailedAtMs = this.now();
    }
    return ring;
  }
}
