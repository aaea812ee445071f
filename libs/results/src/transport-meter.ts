// What a connection's transport holds of results (written, not yet handed on towards the peer) and
// since when it has handed nothing on: the measure of a stalled connection, for the hub's
// subscribers and for replays.

export class TransportMeter {
  /** Bytes written and not yet handed on. */
  bytes = 0;
  /** When the transport last handed something on, or began to hold something (µs). */
  private progressUs = 0;

  /** `now`: µs, as the hub's clock. */
  constructor(private readonly now: () => number) {}

  hold(bytes: number): void {
    if (this.bytes === 0) this.progressUs = this.now();
    this.bytes += bytes;
  }

  /** A write of `bytes` completed: progress. */
  handedOn(bytes: number): void {
    this.bytes = Math.max(0, this.bytes - bytes);
    this.progressUs = this.now();
  }

  /** When it last handed something on, or began to hold something (µs; 0: never). */
  get lastProgressUs(): number {
    return this.progressUs;
  }

  /** How long the transport has held bytes without handing any on (0 when it holds none). */
  stalledForUs(): number {
    return this.bytes === 0 ? 0 : this.now() - this.progressUs;
  }

  /** Forgets what it holds (the connection is gone); returns those bytes. */
  clear(): number {
    const bytes = this.bytes;
    this.bytes = 0;
    return bytes;
  }
}
