// Events per second over a sliding window of fixed buckets: recording allocates nothing.

export const DEFAULT_RATE_WINDOW_MS = 5_000;
const DEFAULT_RATE_BUCKETS = 10;

/** Counts events in `buckets` time buckets covering `windowMs`; the oldest bucket is reused. */
export class SlidingRate {
  private readonly bucketMs: number;
  private readonly epochs: Float64Array;
  private readonly counts: Float64Array;
  private firstAtMs = -1;

  constructor(
    private readonly windowMs: number = DEFAULT_RATE_WINDOW_MS,
    private readonly buckets: number = DEFAULT_RATE_BUCKETS,
  ) {
    this.bucketMs = windowMs / buckets;
    this.epochs = new Float64Array(buckets).fill(-1);
    this.counts = new Float64Array(buckets);
  }

  record(nowMs: number): void {
    const epoch = Math.floor(nowMs / this.bucketMs);
    const i = epoch % this.buckets;
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch;
      this.counts[i] = 0;
    }
    this.counts[i]++;
    if (this.firstAtMs < 0) this.firstAtMs = nowMs;
  }

  /** Events per second over the window ending at `nowMs` (over less when recording began later). */
  perSecond(nowMs: number): number {
    if (this.firstAtMs < 0) return 0;
    const epoch = Math.floor(nowMs / this.bucketMs);
    let sum = 0;
    for (let i = 0; i < this.buckets; i++) {
      const age = epoch - this.epochs[i];
      if (age >= 0 && age < this.buckets) sum += this.counts[i];
    }
    const windowSpan = (this.buckets - 1) * this.bucketMs + (nowMs - epoch * this.bucketMs);
    const span = Math.max(this.bucketMs, Math.min(windowSpan, nowMs - this.firstAtMs));
    return (sum * 1000) / span;
  }
}
