import { FrameSupplier, FrameDelivery } from './frame-supplier';
import { PullCredits } from './pull-credits';
import { deliverFrames } from './deliver-frames';
import { testFrame } from '@framewire/testing';

const tick = () => new Promise<void>((r) => setImmediate(r));

function newSupplier() {
  return new FrameSupplier({ maxWorkers: 8, maxStreams: 4, maxFrameBytes: 1 << 20 });
}

describe('deliverFrames', () => {
  it('sends each new frame and ends with the reason when the worker leaves', async () => {
    const supplier = newSupplier();
    const sub = supplier.subscribe({ workerId: 'w', streamId: 's' });
    const sent: number[] = [];
    const loop = deliverFrames(sub, (d) => void sent.push(d.frame.sequence));
    for (let seq = 1; seq <= 3; seq++) {
      supplier.publish(testFrame('s', seq));
      await tick();
    }
    sub.close();
    expect((await loop).reason).toBe('unsubscribed');
    expect(sent).toEqual([1, 2, 3]);
  });

  it('takes no frame while the transport is busy, then sends the newest', async () => {
    const supplier = newSupplier();
    const sub = supplier.subscribe({ workerId: 'w', streamId: 's' });
    const sent: FrameDelivery[] = [];
    let release!: () => void;
    const loop = deliverFrames(sub, (d) => {
      sent.push(d);
      return new Promise<void>((r) => (release = r));
    });
    supplier.publish(testFrame('s', 1));
    await tick();
    for (let seq = 2; seq <= 6; seq++) supplier.publish(testFrame('s', seq));
    await tick();
    expect(sent.map((d) => d.frame.sequence)).toEqual([1]);
    release();
    await tick();
    expect(sent.map((d) => [d.frame.sequence, d.droppedSinceLast])).toEqual([
      [1, 0],
      [6, 4],
    ]);
    supplier.close();
    expect((await loop).reason).toBe('supplier-stopped');
  });

  it('ends while the transport is stuck when the subscription is replaced', async () => {
    const supplier = newSupplier();
    const sub = supplier.subscribe({ workerId: 'w', streamId: 's', instanceId: 'process-a' });
    const loop = deliverFrames(sub, () => new Promise<void>(() => undefined));
    supplier.publish(testFrame('s', 1));
    await tick();
    supplier.subscribe({ workerId: 'w', streamId: 's', instanceId: 'process-a' });
    expect((await loop).reason).toBe('replaced');
  });

  it('with credits, sends one frame per credit, always the newest at the moment it sends, never twice', async () => {
    const supplier = newSupplier();
    const sub = supplier.subscribe({ workerId: 'w', streamId: 's' });
    const credits = new PullCredits(4);
    const sent: number[] = [];
    const loop = deliverFrames(sub, (d) => void sent.push(d.frame.sequence), credits);
    supplier.publish(testFrame('s', 1));
    supplier.publish(testFrame('s', 2));
    await tick();
    expect(sent).toEqual([]); // no credit yet
    credits.grant(1);
    await tick();
    expect(sent).toEqual([2]);
    credits.grant(1);
    await tick();
    expect(sent).toEqual([2]); // nothing new: waits rather than resending 2
    supplier.publish(testFrame('s', 3));
    supplier.publish(testFrame('s', 4));
    await tick();
    expect(sent).toEqual([2, 4]);
    sub.close();
    await loop;
  });

  it('rejects when sending fails, leaving the subscription to its owner', async () => {
    const supplier = newSupplier();
    const sub = supplier.subscribe({ workerId: 'w', streamId: 's' });
    const loop = deliverFrames(sub, () => Promise.reject(new Error('socket closed')));
    supplier.publish(testFrame('s', 1));
    await expect(loop).rejects.toThrow('socket closed');
    sub.close();
  });
});

describe('PullCredits', () => {
  it('accumulates credits up to its cap', () => {
    const credits = new PullCredits(4);
    credits.grant(3);
    credits.grant(3);
    expect(credits.available).toBe(4);
    credits.consume();
    expect(credits.available).toBe(3);
  });

  it('refuses to consume a credit it does not have', () => {
    expect(() => new PullCredits().consume()).toThrow('without a credit');
  });

  it('wakes a waiting sender on grant, and rejects on abort', async () => {
    const credits = new PullCredits();
    const controller = new AbortController();
    const waiting = credits.waitForCredit(controller.signal);
    credits.grant(1);
    await waiting;
    credits.consume();
    const second = credits.waitForCredit(controller.signal);
    controller.abort(new Error('left'));
    await expect(second).rejects.toThrow('left');
  });
});
