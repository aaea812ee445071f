// The one reconnect and retry backoff of framewire's clients: exponential steps capped at a
// maximum, each wait drawn at random from the upper half of its step, so that many clients that
// lost the same server do not come back in step.

export interface BackoffOptions {
  /** The first step. */
  initialMs: number;
  /** Steps double up to this. */
  maxMs: number;
  /** Draw each wait from [step / 2, step] (the default); false waits the step exactly (tests, and a
   *  launcher restarting its own processes, where nothing needs spreading out). */
  jitter?: boolean;
  /** Source of randomness in [0, 1) (default Math.random). */
  random?: () => number;
}

/** 100 ms doubling to 5 s: the default of every framewire client that reconnects. */
export const DEFAULT_BACKOFF = Object.freeze({ initialMs: 100, maxMs: 5_000 });
/** The share of a step that is random: each wait is 50-100 % of its step. */
export const BACKOFF_JITTER = 0.5;
/** Steps stop doubling past 2^30 × initialMs (the cap is reached long before). */
const MAX_EXPONENT = 30;

export class Backoff {
  private attempt = 0;
  private readonly options: Required<BackoffOptions>;

  constructor(options: Partial<BackoffOptions> = {}) {
    const { initialMs, maxMs, jitter = true, random = Math.random } = { ...DEFAULT_BACKOFF, ...options };
    if (!(initialMs > 0 && maxMs >= initialMs)) throw new RangeError(`backoff needs 0 < initialMs <= maxMs (got initialMs ${initialMs}, maxMs ${maxMs})`);
    this.options = { initialMs, maxMs, jitter, random };
  }

  /** Waits handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The wait before the next attempt, in whole milliseconds; each call doubles the step up to maxMs. */
  next(): number {
    const { initialMs, maxMs, jitter, random } = this.options;
    const step = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, MAX_EXPONENT));
    this.attempt++;
    return jitter ? Math.round(step * (1 - BACKOFF_JITTER * random())) : step;
  }

  /** After a success: the next wait is the initial step again. */
  reset(): void {
    this.attempt = 0;
  }
}
