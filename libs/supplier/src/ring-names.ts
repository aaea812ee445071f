// The shared-memory rings each stream's references named recently: what ListRings answers, and
// which rings the supplier keeps open. Bounded per stream and in total; a name no reference used
// for RING_NAME_EXPIRY_MS is forgotten, unless its writer still runs (a paused capture keeps its ring).
import { SupplierLimitError } from './errors';

/** Rings one stream's references may name at once (a capture uses one; a restarted capture may
 *  name a new one while the old is remembered). */
export const MAX_RINGS_PER_STREAM = 8;
/** Rings the supplier remembers across all streams. */
export const MAX_RINGS = 128;
/** A ring name no reference used for this long is forgotten (unless its writer is alive). */
export const RING_NAME_EXPIRY_MS = 60_000;

/** One ring named by one stream's references. A publisher keeps the one it uses and stamps it on
 *  every frame, so the per-frame cost is one store. */
export interface RingUse {
  readonly ringName: string;
  readonly streamId: string;
  lastUsedMs: number;
  /** Set when the name was forgotten: its publisher notes it again with its next frame. */
  forgotten: boolean;
}

export interface RingNamesOptions {
  /** Whether a ring unused past the expiry is kept anyway (its writer is alive). */
  keep: (ringName: string) => boolean;
  /** Called when no stream names `ringName` any more (the supplier closes its reader). */
  onForgotten: (ringName: string) => void;
}

export class RingNames {
  private readonly byStream = new Map<string, Map<string, RingUse>>();
  /** Streams naming each ring. */
  private readonly streamsOf = new Map<string, number>();
  private total = 0;

  constructor(private readonly options: RingNamesOptions) {}

  /**
   * `streamId`'s use of `ringName`, noted now (a name it already uses is stamped). Names past the
   * expiry are forgotten first. Throws SupplierLimitError ('ringsPerStream' or 'rings') when the
   * name would be one too many.
   */
  note(streamId: string, ringName: string, nowMs: number): RingUse {
    let uses = this.byStream.get(streamId);
    const known = uses?.get(ringName);
    if (known !== undefined) {
      known.lastUsedMs = nowMs;
      return known;
    }
    this.expire(nowMs);
    uses = this.byStream.get(streamId);
    if ((uses?.size ?? 0) >= MAX_RINGS_PER_STREAM) {
      throw new SupplierLimitError(
        'ringsPerStream',
        MAX_RINGS_PER_STREAM + 1,
        MAX_RINGS_PER_STREAM,
        `frame.shm_ref.ring_name "${ringName}" would be ring ${MAX_RINGS_PER_STREAM + 1} of stream "${streamId}" ` +
          `(at most ${MAX_RINGS_PER_STREAM}; a name unused for ${RING_NAME_EXPIRY_MS} ms is forgotten)`,
      );
    }
    if (this.total >= MAX_RINGS) {
      throw new SupplierLimitError(
        'rings',
        MAX_RINGS + 1,
        MAX_RINGS,
        `frame.shm_ref.ring_name "${ringName}" would be ring ${MAX_RINGS + 1} of the supplier ` +
          `(at most ${MAX_RINGS}; a name unused for ${RING_NAME_EXPIRY_MS} ms is forgotten)`,
      );
    }
    if (uses === undefined) {
      uses = new Map();
      this.byStream.set(streamId, uses);
    }
    const use: RingUse = { ringName, streamId, lastUsedMs: nowMs, forgotten: false };
    uses.set(ringName, use);
    this.total++;
    this.streamsOf.set(ringName, (this.streamsOf.get(ringName) ?? 0) + 1);
    return use;
  }

  /** The rings of `streamId` (every stream when empty), forgetting expired names first. */
  list(streamId: string, nowMs: number): { ringName: string; streamId: string }[] {
    this.expire(nowMs);
    const rings: { ringName: string; streamId: string }[] = [];
    for (const [id, uses] of this.byStream) {
      if (streamId !== '' && id !== streamId) continue;
      for (const ringName of uses.keys()) rings.push({ ringName, streamId: id });
    }
    return rings;
  }

  /** Forgets every ring of a stream that went away. */
  forgetStream(streamId: string): void {
    const uses = this.byStream.get(streamId);
    if (uses === undefined) return;
    for (const use of [...uses.values()]) this.forget(use);
  }

  get size(): number {
    return this.total;
  }

  private expire(nowMs: number): void {
    for (const uses of this.byStream.values()) {
      for (const use of uses.values()) {
        if (nowMs - use.lastUsedMs > RING_NAME_EXPIRY_MS && !this.options.keep(use.ringName)) this.forget(use);
      }
    }
  }

  private forget(use: RingUse): void {
    const uses = this.byStream.get(use.streamId);
    if (uses?.get(use.ringName) !== use) return;
    use.forgotten = true;
    uses.delete(use.ringName);
    if (uses.size === 0) this.byStream.delete(use.streamId);
    this.total--;
    const streams = (this.streamsOf.get(use.ringName) ?? 1) - 1;
    if (streams > 0) {
      this.streamsOf.set(use.ringName, streams);
    } else {
      this.streamsOf.delete(use.ringName);
      this.options.onForgotten(use.ringName);
    }
  }
}
