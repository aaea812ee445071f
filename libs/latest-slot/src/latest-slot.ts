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
 * it. One consumer may wait for the next value; the pending wait is one function (a promise's
 * resolver, or the consumer's own through wakeOnPut), so puts stay allocation-free whether or not
 * someone waits.
 *
 * Invariant: puts === takes + dropsTotal + (hasValue ? 1 : 0).
 */
export class LatestSlot<T> {
  puts = 0;
  takes = 0;
  dropsTotal = 0;
  /** Drops since the last take (reset by `take`). */
  dropsConsecutive = 0;

  private value: T | undefined = undefined;
  /** When the last value was taken (clock milliseconds; 0 before the first take). Always a number,
   *  so that V8 updates the field in place rather than boxing a new number on each take. */
  private lastTakeMs = 0;
  private holding = false;
  private wake: (() => void) | undefined = undefined;

  constructor(private readonly now: MillisecondClock = Date.now) {}

  /** When the last value was taken (clock milliseconds), or undefined before the first take. */
  get lastTakenAt(): number | undefined {
    return this.takes === 0 ? undefined : this.lastTakeMs;
  }

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
    this.lastTakeMs = this.now();
    return value;
  }

  /** Looks at the newest value without taking it. */
  peek(): T | undefined {
    return this.value;
  }

  /**
   * Calls `wake` once, from the next put (synchronously, inside it): waitForValue without a
   * promise, for a consumer that passes the same function every time and checks `hasValue` first.
   * Throws SlotBusyError when a wait is already pending.
   */
  wakeOnPut(wake: () => void): void {
    if (this.wake !== undefined) throw new SlotBusyError();
    this.wake = wake;
  }

  /** Forgets `wake` if it is the pending wait (its consumer stopped waiting). */
  cancelWake(wake: () => void): void {
    if (this.wake === wake) this.wake = undefined;
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
