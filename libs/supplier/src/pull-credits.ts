// Credits of a Pull call: how many more frames the worker asked for.

/** Credits a worker may hold at once: enough to overlap its request with the next frame's transfer,
 *  few enough that frames never queue in transport buffers. */
export const PULL_CREDIT_CAP = 4;

/** The credit count of one Pull call, with one waiting sender at most. */
export class PullCredits {
  available = 0;
  private wake: (() => void) | undefined = undefined;

  constructor(readonly cap: number = PULL_CREDIT_CAP) {}

  /** Adds `n` credits, keeping at most `cap`. */
  grant(n: number): void {
    this.available = Math.min(this.cap, this.available + n);
    const wake = this.wake;
    if (this.available > 0 && wake !== undefined) {
      this.wake = undefined;
      wake();
    }
  }

  consume(): void {
    if (this.available <= 0) throw new Error('PullCredits.consume without a credit');
    this.available--;
  }

  /** Calls `wake` once, from the next grant that leaves a credit: waitForCredit without a promise,
   *  for a sender that passes the same function every time and checks `available` first. */
  wakeOnCredit(wake: () => void): void {
    this.wake = wake;
  }

  /** Forgets `wake` if it is the waiting sender's. */
  cancelWake(wake: () => void): void {
    if (this.wake === wake) this.wake = undefined;
  }

  /** Resolves when a credit is available; rejects with the signal's reason when it aborts first. */
  waitForCredit(signal: AbortSignal): Promise<void> {
    if (this.available > 0) return Promise.resolve();
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.wake = undefined;
        reject(signal.reason);
      };
      this.wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
