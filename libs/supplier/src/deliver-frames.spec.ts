import { FrameSupplier, FrameDelivery } from './frame-supplier';
import { PullCredits } from './pull-credits';
import { deliverFrames } from './deliver-frames';
import { testFrame } from '@framewire/testing';
import { getEventListeners } from 'node:events';

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

  it('a send that throws ends its own loop only: the loops woken by the same publish still deliver', async () => {
    const supplier = newSupplier();
    const subs = ['a', 'b', 'c'].map((workerId) => supplier.subscribe({ workerId, streamId: 's' }));
    const sent: string[] = [];
    const loops = subs.map((sub) =>
      deliverFrames(sub, (d) => {
        if (sub.workerId === 'a') throw new Error('encoder failed');
        sent.push(`${sub.workerId}${d.frame.sequence}`);
      }),
    );
    supplier.publish(testFrame('s', 1));
    await expect(loops[0]).rejects.toThrow('encoder failed');
    await tick();
    supplier.publish(testFrame('s', 2));
    await tick();
    expect(sent).toEqual(['b1', 'c1', 'b2', 'c2']);
    supplier.close();
    expect((await loops[1]).reason).toBe('supplier-stopped');
  });

  it('a subscription that ends inside send ends its loop with the reason, and it sends nothing more', async () => {
    const supplier = newSupplier();
    const sub = supplier.subscribe({ workerId: 'w', streamId: 's' });
    const sent: number[] = [];
    const loop = deliverFrames(sub, (d) => {
      sent.push(d.frame.sequence);
      sub.close(); // a transport that fails at once closes its subscription
      supplier.publish(testFrame('s', d.frame.sequence + 1));
    });
    supplier.publish(testFrame('s', 1));
    expect((await loop).reason).toBe('unsubscribed');
    await tick();
    expect(sent).toEqual([1]);
  });

  it('runs a loop woken by another loop\'s send in the same pass', async () => {
    const supplier = newSupplier();
    const relay = supplier.subscribe({ workerId: 'relay', streamId: 'in' });
    const sink = supplier.subscribe({ workerId: 'sink', streamId: 'out' });
    const received: number[] = [];
    const loops = [
      deliverFrames(relay, (d) => supplier.publish(testFrame('out', d.frame.sequence))),
      deliverFrames(sink, (d) => void received.push(d.frame.sequence)),
    ];
    await tick();
    supplier.publish(testFrame('in', 7));
    await Promise.resolve(); // one microtask: the pass that the publish queued
    expect(received).toEqual([7]);
    supplier.close();
    await Promise.all(loops);
  });

  it('sends a pool member\'s batch one message per frame, in order, waiting while the transport is busy', async () => {
    const supplier = newSupplier();
    const member = supplier.subscribe({ workerId: 'm', streamId: '', poolId: 'p', streamIds: ['a', 'b'] });
    const sent: [string, number, number][] = [];
    let release: (() => void) | undefined;
    const loop = deliverFrames(member, (d) => {
      sent.push([d.frame.streamId, d.frame.sequence, d.batchRemaining]);
      if (sent.length === 1) return new Promise<void>((r) => (release = r));
    });
    supplier.publish(testFrame('a', 1));
    supplier.publish(testFrame('b', 1));
    member.grantPool(2); // one batch of both streams' frames
    await tick();
    expect(sent).toEqual([['a', 1, 1]]);
    supplier.publish(testFrame('a', 2));
    member.grantPool(1); // a second batch queues behind the first
    await tick();
    expect(sent).toHaveLength(1);
    release?.();
    await tick();
    expect(sent).toEqual([
      ['a', 1, 1],
      ['b', 1, 0],
      ['a', 2, 0],
    ]);
    member.close();
    expect((await loop).reason).toBe('unsubscribed');
  });

  it('leaves no listener on the subscription behind, and adds none per frame', async () => {
    const supplier = newSupplier();
    const sub = supplier.subscribe({ workerId: 'w', streamId: 's' });
    const credits = new PullCredits(4);
    credits.grant(4);
    const loop = deliverFrames(sub, () => credits.grant(1), credits);
    for (let seq = 1; seq <= 20; seq++) {
      supplier.publish(testFrame('s', seq));
      await tick();
      expect(getEventListeners(sub.signal, 'abort')).toHaveLength(1);
    }
    expect(sub.framesDelivered).toBe(20);
    sub.close();
    await loop;
    expect(getEventListeners(sub.signal, 'abort')).toHaveLength(0);
  });

  it('a publish wakes 64 waiting Pull loops without allocating a promise, closure or listener per loop', async () => {
    const WORKERS = 64;
    const WINDOW = 20;
    /** Heap bytes per publish (and the turn after it), median over windows without a collection. */
    const allocatedPerPublish = async (supplier: FrameSupplier): Promise<number> => {
      const perWindow: number[] = [];
      let seq = 0;
      for (let w = 0; w < 60; w++) {
        const before = process.memoryUsage().heapUsed;
        for (let i = 0; i < WINDOW; i++) {
          supplier.publish(testFrame('s', ++seq));
          await tick();
        }
        const grown = process.memoryUsage().heapUsed - before;
        if (grown >= 0) perWindow.push(grown / WINDOW);
      }
      perWindow.sort((a, b) => a - b);
      return perWindow[perWindow.length >> 1];
    };
    const idle = new FrameSupplier({ maxWorkers: WORKERS, maxStreams: 1, maxFrameBytes: 1 << 20 });
    const busy = new FrameSupplier({ maxWorkers: WORKERS, maxStreams: 1, maxFrameBytes: 1 << 20 });
    let delivered = 0;
    const loops = Array.from({ length: WORKERS }, (_, i) => {
      const credits = new PullCredits();
      credits.grant(credits.cap);
      const sub = busy.subscribe({ workerId: `w${i}`, streamId: 's' });
      return deliverFrames(sub, () => void (delivered++, credits.grant(1)), credits);
    });
    idle.subscribe({ workerId: 'nobody-waits', streamId: 's' });
    await allocatedPerPublish(idle); // warm up both paths
    await allocatedPerPublish(busy);
    const perLoop = ((await allocatedPerPublish(busy)) - (await allocatedPerPublish(idle))) / WORKERS;
    expect(delivered).toBe(2 * 60 * WINDOW * WORKERS);
    // Each delivery is one FrameDelivery for the transport and the clock read of its take (about
    // 120 bytes); a promise, its resolvers and an AbortSignal listener per wait came to ~1,500.
    expect(perLoop).toBeLessThan(500);
    busy.close();
    idle.close();
    await Promise.all(loops);
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
