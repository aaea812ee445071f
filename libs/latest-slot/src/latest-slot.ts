// A single-value slot that always holds the newest value: the unit of latest-frame delivery.
// Putting never blocks and never allocates; overwriting a value nobody took counts as a drop.

/** The slot already has a consumer waiting; a LatestSlot has exactly one consumer. */
export class SlotBusyError extends Error {
  readonly code = 'SLOT_BUSY';
  constructor() {
    super('a consumer is already waiting on this slot (a LatestSlot has one consumer)');
    this.name = 'SlotBusyError';
  }
}

/** Where a LatestSlot reads the time for `lastTakenAt` (milliseconds). */
export type MillisecondClock = () => number;

/**
 * Holds at most one value. `put` replaces it (a drop when it had not been taken), `take` removes
 * it. One consumer may wait for the next value; the pending wait is one resolver, so puts stay
 * allocation-free whether or not someone waits.
 *
 * Invariant: puts === takes + dropsTotal + (hasValue ? 1 : 0).
 */
export class LatestSlot<T> {
  puts = 0;
  takes = 0;
  dropsTotal = 0;
  /** Drops since the last take (reset by `take`). */
  dropsConsecutive = 0;
  /** When the last value was taken (clock milliseconds), or undefined before the first take. */
  lastTakenAt: number | undefined = undefined;

  private value: T | undefined = undefined;
  private holding = false;
  private wake: (() => void) | undefined = undefined;

  constructor(private readonly now: MillisecondClock = Date.now) {}

  /** Whether a value is waiting to be taken. */
  get hasValue(): boolean {
    return this.holding;
  }

  /** Stores `value` as the newest. Returns true when it overwrote an untaken value (a drop). */
  put(value: T): boolean {
    this.puts++;
    const dropped = this.holding;
    if (dropped) {
      this.dropsTotal++;
      this.dropsConsecutive++;
    }
    this.value = value;
    this.holding = true;
    const wake = this.wake;
    if (wake !== undefined) {
      this.wake = undefined;
      wake();
    }
    return dropped;
  }

  /** Removes and returns the newest value, or undefined when there is none. */
  take(): T | undefined {
    if (!this.holding) return undefined;
    const value = this.value;
    this.value = undefined;
    this.holding = false;
    this.takes++;
    this.dropsConsecutive = 0;
    this.lastTakenAt = this.now();
    return value;
  }

  /** Looks at the newest value without taking it. */
  peek(): T | undefined {
    return this.value;
  }

  /**
   * Resolves as soon as a value is pending (at once if one already is). Rejects with the signal's
   * reason when `signal` aborts first. Only one wait may be outstanding at a time.
   */
  waitForValue(signal?: AbortSignal): Promise<void> {
    if (this.holding) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.wake !== undefined) return Promise.reject(new SlotBusyError());
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.wake = undefined;
        reject(signal?.reason);
      };
      this.wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
