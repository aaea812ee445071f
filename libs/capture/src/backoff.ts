// Exponential backoff with jitter, for reconnecting to the supplier and restarting a source.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Fraction of each delay that is random (0: none; 0.2: the delay is 80-100% of the step). */
  jitter: number;
  random?: () => number;
}

/** 100 ms doubling to 5 s, each delay 80-100% of its step. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5_000, jitter: 0.2 };

export class Backoff {
  private attempt = 0;
  private readonly options: BackoffOptions;

  constructor(options: Partial<BackoffOptions> = {}) {
    this.options = { ...DEFAULT_BACKOFF, ...options };
  }

  /** The delay before the next attempt; each call doubles the step up to maxMs. */
  next(): number {
    const { initialMs, maxMs, jitter, random = Math.random } = this.options;
    const step = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(step * (1 - jitter * random()));
  }

  /** After a success: the next delay is the initial one again. */
  reset(): void {
    this.attempt = 0;
  }
}
