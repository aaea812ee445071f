// The delivery loop every transport shares: wait until the worker can take a frame (and, for Pull,
// holds a credit), take the newest frame from its mailbox, send it, repeat until the subscription ends.
import { SubscriptionEndedError } from './errors';
import type { FrameDelivery, Subscription } from './frame-supplier';
import type { PullCredits } from './pull-credits';

/**
 * Sends one delivery. Return nothing when the transport took it at once, or a promise that settles
 * when the transport can take the next one (the loop takes no frame meanwhile, so frames wait in the
 * mailbox, where newer ones replace them, rather than in transport buffers).
 */
export type SendDelivery = (delivery: FrameDelivery) => void | Promise<void>;

/** Settles like `promise`, or rejects with the signal's reason when it aborts first. */
function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Delivers frames of `subscription` through `send` until the subscription ends, and resolves with
 * why it ended. With `credits` (Pull), sends only while the worker holds a credit, and takes the
 * frame only once it has one, so the frame sent is the newest at the moment the worker can take it.
 * A pool member's credits are the pool's (Subscription.grantPool): it sends the batches the pool
 * delivered, in order, one message per frame.
 * Rejects only when `send` fails.
 */
export async function deliverFrames(
  subscription: Subscription,
  send: SendDelivery,
  credits?: PullCredits,
): Promise<SubscriptionEndedError> {
  const signal = subscription.signal;
  try {
    if (subscription.pool !== undefined) {
      // A pool member: the pool already spent its credits on the batch.
      for (;;) {
        await subscription.waitForPoolBatch();
        const batch = subscription.takePoolBatch();
        if (batch === undefined) continue;
        for (let i = 0; i < batch.length; i++) {
          const sending = send(batch[i]);
          if (sending !== undefined) await untilAborted(sending, signal);
        }
      }
    }
    for (;;) {
      if (credits !== undefined) await credits.waitForCredit(signal);
      await subscription.waitForFrame();
      const delivery = subscription.takeDelivery();
      if (delivery === undefined) continue;
      credits?.consume();
      const sending = send(delivery);
      if (sending !== undefined) await untilAborted(sending, signal);
    }
  } catch (err) {
    if (subscription.endReason !== undefined && err === subscription.endReason) return subscription.endReason;
    throw err;
  }
}
