// The delivery loop every transport shares: wait until the worker can take a frame (and, for Pull,
// holds a credit), take the newest frame from its mailbox, send it, repeat until the subscription ends.
// A small state machine rather than an async function, so that a publish wakes every waiting loop
// without a promise, a closure or an AbortSignal listener per worker; the loops a publish woke run
// together in one microtask after it returns.
import { SubscriptionEndedError } from './errors';
import type { FrameDelivery, Subscription } from './frame-supplier';
import type { PullCredits } from './pull-credits';

/**
 * Sends one delivery. Return nothing when the transport took it at once, or a promise that settles
 * when the transport can take the next one (the loop takes no frame meanwhile, so frames wait in the
 * mailbox, where newer ones replace them, rather than in transport buffers).
 */
export type SendDelivery = (delivery: FrameDelivery) => void | Promise<void>;

/** Loops woken since the queued microtask last ran them, in the order they woke: the first
 *  `wokenCount` entries. Each loop is in it at most once (a loop waits for one thing at a time, and
 *  is woken once per wait). The array only grows, to the most loops woken in one turn, so waking
 *  allocates nothing. */
const wokenLoops: (DeliveryLoop | undefined)[] = [];
let wokenCount = 0;
const RESOLVED = Promise.resolve();

/** Runs `loop` in the microtask that runs every loop woken in this turn: a publish to 64 workers
 *  queues one microtask, not 64. */
function runSoon(loop: DeliveryLoop): void {
  wokenLoops[wokenCount++] = loop;
  if (wokenCount === 1) void RESOLVED.then(runWokenLoops);
}

function runWokenLoops(): void {
  // Loops woken while these run (by a send) join the end of the list and run in this pass. run()
  // never throws; the list is emptied whatever happens, or no loop would be scheduled again.
  try {
    for (let i = 0; i < wokenCount; i++) {
      const loop = wokenLoops[i] as DeliveryLoop;
      wokenLoops[i] = undefined;
      loop.run();
    }
  } finally {
    wokenCount = 0;
  }
}

/** One subscription's loop. Its waits are one-shot wakes of the same function (mailbox or pool,
 *  credits), and one listener on the subscription's signal for its whole life. */
class DeliveryLoop {
  readonly ended: Promise<SubscriptionEndedError>;
  private resolveEnded!: (reason: SubscriptionEndedError) => void;
  private rejectEnded!: (err: unknown) => void;
  private settled = false;
  /** A pool member's batch being sent, and the index of its next delivery. */
  private batch: FrameDelivery[] | undefined = undefined;
  private batchNext = 0;
  private readonly wake = () => runSoon(this);
  private readonly onSent = () => this.run();
  private readonly onSendFailed = (err: unknown) => this.fail(err);
  private readonly onEnd = () => this.finish();

  constructor(
    private readonly subscription: Subscription,
    private readonly send: SendDelivery,
    private readonly credits: PullCredits | undefined,
  ) {
    this.ended = new Promise<SubscriptionEndedError>((resolve, reject) => {
      this.resolveEnded = resolve;
      this.rejectEnded = reject;
    });
    const signal = subscription.signal;
    if (signal.aborted) {
      this.finish();
      return;
    }
    signal.addEventListener('abort', this.onEnd, { once: true });
    // The first frame is taken after deliverFrames returns, as later ones are.
    runSoon(this);
  }

  /** Takes and sends what it may until it must wait (for a credit, a frame or the transport), then
   *  arms that wait. Never throws: a failing send rejects `ended`. */
  run(): void {
    try {
      if (this.subscription.pool === undefined) this.runBroadcast();
      else this.runPool();
    } catch (err) {
      this.fail(err);
    }
  }

  private runBroadcast(): void {
    const { subscription, credits } = this;
    while (!this.settled) {
      if (credits !== undefined && credits.available === 0) {
        credits.wakeOnCredit(this.wake);
        return;
      }
      if (!subscription.hasDelivery) {
        subscription.wakeOnDelivery(this.wake);
        return;
      }
      const delivery = subscription.takeDelivery();
      if (delivery === undefined) continue;
      credits?.consume();
      const sending = this.send(delivery);
      if (sending !== undefined) {
        sending.then(this.onSent, this.onSendFailed);
        return;
      }
    }
  }

  /** A pool member: the pool already spent its credits on the batch; one message per frame. */
  private runPool(): void {
    const subscription = this.subscription;
    while (!this.settled) {
      let batch = this.batch;
      if (batch === undefined || this.batchNext === batch.length) {
        this.batch = undefined;
        if (!subscription.hasDelivery) {
          subscription.wakeOnDelivery(this.wake);
          return;
        }
        batch = subscription.takePoolBatch();
        if (batch === undefined) continue;
        this.batch = batch;
        this.batchNext = 0;
      }
      const sending = this.send(batch[this.batchNext++]);
      if (sending !== undefined) {
        sending.then(this.onSent, this.onSendFailed);
        return;
      }
    }
  }

  /** The subscription ended: resolve with why, whatever the loop waited for. */
  private finish(): void {
    if (this.settle()) this.resolveEnded(this.subscription.endReason as SubscriptionEndedError);
  }

  private fail(err: unknown): void {
    if (!this.settle()) return;
    const reason = this.subscription.endReason;
    if (reason !== undefined && err === reason) this.resolveEnded(reason);
    else this.rejectEnded(err);
  }

  /** Stops waiting for anything; false when it already had. */
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.subscription.signal.removeEventListener('abort', this.onEnd);
    this.subscription.cancelWake(this.wake);
    this.credits?.cancelWake(this.wake);
    this.batch = undefined;
    return true;
  }
}

/**
 * Delivers frames of `subscription` through `send` until the subscription ends, and resolves with
 * why it ended. With `credits` (Pull), sends only while the worker holds a credit, and takes the
 * frame only once it has one, so the frame sent is the newest at the moment the worker can take it.
 * A pool member's credits are the pool's (Subscription.grantPool): it sends the batches the pool
 * delivered, in order, one message per frame. A send still pending when the subscription ends is
 * not waited for. Rejects only when `send` fails.
 */
export function deliverFrames(
  subscription: Subscription,
  send: SendDelivery,
  credits?: PullCredits,
): Promise<SubscriptionEndedError> {
  return new DeliveryLoop(subscription, send, credits).ended;
}
