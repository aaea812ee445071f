// The last N ages at delivery of one pool stream, for p50/p99 at stats time: a fixed ring of
// samples, so recording never allocates and memory stays bounded however long a pool runs.

/** Samples kept per pool stream when nothing else is configured. */
export const DEFAULT_AGE_WINDOW_SAMPLES = 256;

export interface AgePercentiles {
  p50Us: number;
  p99Us: number;
  /** Samples the percentiles were taken over (at most the window). */
  samples: number;
}

/** The most recent `capacity` ages (µs); older ones are overwritten. */
export class AgeWindow {
  private readonly values: Float64Array;
  private count = 0;
  private next = 0;

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
  }

  record(ageUs: number): void {
    this.values[this.next] = ageUs;
    this.next = (this.next + 1) % this.values.length;
    if (this.count < this.values.length) this.count++;
  }

  /** Nearest-rank percentiles of the samples held (zeros when there are none). */
  percentiles(): AgePercentiles {
    const samples = this.count;
    if (samples === 0) return { p50Us: 0, p99Us: 0, samples: 0 };
    const sorted = this.values.slice(0, samples).sort();
    const rank = (q: number): number => sorted[Math.min(samples - 1, Math.ceil(q * samples) - 1)];
    return { p50Us: rank(0.5), p99Us: rank(0.99), samples };
  }
}
