import fc from 'fast-check';
import { LatestSlot, SlotBusyError } from './latest-slot';

describe('LatestSlot', () => {
  it('returns undefined when nothing was put', () => {
    const slot = new LatestSlot<number>();
    expect(slot.take()).toBeUndefined();
    expect(slot.hasValue).toBe(false);
  });

  it('returns the newest value and counts the overwritten ones as drops', () => {
    const slot = new LatestSlot<number>();
    expect(slot.put(1)).toBe(false);
    expect(slot.put(2)).toBe(true);
    expect(slot.put(3)).toBe(true);
    expect(slot.dropsTotal).toBe(2);
    expect(slot.dropsConsecutive).toBe(2);
    expect(slot.take()).toBe(3);
    expect(slot.take()).toBeUndefined();
    expect(slot).toMatchObject({ puts: 3, takes: 1, dropsTotal: 2, dropsConsecutive: 0 });
  });

  it('resets consecutive drops on take but keeps the total', () => {
    const slot = new LatestSlot<number>();
    slot.put(1);
    slot.put(2);
    slot.take();
    slot.put(3);
    slot.put(4);
    slot.put(5);
    expect(slot.dropsConsecutive).toBe(2);
    expect(slot.dropsTotal).toBe(3);
  });

  it('stores undefined as a value like any other', () => {
    const slot = new LatestSlot<number | undefined>();
    slot.put(undefined);
    expect(slot.hasValue).toBe(true);
    slot.put(undefined);
    expect(slot.dropsTotal).toBe(1);
  });

  it('records when a value was last taken', () => {
    let now = 1000;
    const slot = new LatestSlot<string>(() => now);
    expect(slot.lastTakenAt).toBeUndefined();
    slot.put('a');
    now = 1500;
    slot.take();
    expect(slot.lastTakenAt).toBe(1500);
  });

  describe('wakeOnPut', () => {
    it('calls the consumer once, inside the next put, with the value already there', () => {
      const slot = new LatestSlot<number>();
      const seen: (number | undefined)[] = [];
      const wake = () => seen.push(slot.take());
      slot.wakeOnPut(wake);
      expect(seen).toEqual([]);
      slot.put(1);
      expect(seen).toEqual([1]);
      slot.put(2); // not armed again: the value waits
      expect(seen).toEqual([1]);
      expect(slot.hasValue).toBe(true);
    });

    it('allows one pending wait, and forgets a cancelled one', async () => {
      const slot = new LatestSlot<number>();
      let woken = 0;
      const wake = () => woken++;
      slot.wakeOnPut(wake);
      expect(() => slot.wakeOnPut(() => undefined)).toThrow(SlotBusyError);
      await expect(slot.waitForValue()).rejects.toBeInstanceOf(SlotBusyError);
      slot.cancelWake(() => undefined); // not the pending one: no effect
      slot.cancelWake(wake);
      slot.put(1);
      expect(woken).toBe(0);
      slot.take();
      slot.wakeOnPut(wake); // free again
      slot.put(2);
      expect(woken).toBe(1);
    });
  });

  describe('waitForValue', () => {
    it('resolves at once when a value is pending', async () => {
      const slot = new LatestSlot<number>();
      slot.put(7);
      await slot.waitForValue();
      expect(slot.take()).toBe(7);
    });

    it('resolves when the next value is put', async () => {
      const slot = new LatestSlot<number>();
      const waiting = slot.waitForValue();
      slot.put(1);
      await waiting;
      expect(slot.take()).toBe(1);
    });

    it('rejects with the abort reason, and lets a new wait start afterwards', async () => {
      const slot = new LatestSlot<number>();
      const controller = new AbortController();
      const waiting = slot.waitForValue(controller.signal);
      controller.abort(new Error('worker left'));
      await expect(waiting).rejects.toThrow('worker left');
      const again = slot.waitForValue();
      slot.put(2);
      await expect(again).resolves.toBeUndefined();
    });

    it('rejects at once on an already aborted signal', async () => {
      const slot = new LatestSlot<number>();
      await expect(slot.waitForValue(AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    });

    it('allows only one waiting consumer', async () => {
      const slot = new LatestSlot<number>();
      const first = slot.waitForValue();
      await expect(slot.waitForValue()).rejects.toBeInstanceOf(SlotBusyError);
      slot.put(1);
      await first;
    });

    it('does not keep abort listeners after it resolved', async () => {
      const slot = new LatestSlot<number>();
      const controller = new AbortController();
      for (let i = 0; i < 100; i++) {
        const waiting = slot.waitForValue(controller.signal);
        slot.put(i);
        await waiting;
        slot.take();
      }
      // A stale listener would clear a later wait's resolver and leave it hanging.
      const later = slot.waitForValue();
      controller.abort();
      slot.put(1);
      await expect(later).resolves.toBeUndefined();
    });
  });

  describe('properties', () => {
    type Op = { kind: 'put' } | { kind: 'take' };
    const ops = fc.array(fc.oneof(fc.constant<Op>({ kind: 'put' }), fc.constant<Op>({ kind: 'take' })), { maxLength: 300 });

    it('hands out strictly newer values, and accounts for every put exactly once', () => {
      fc.assert(
        fc.property(ops, (sequence) => {
          const slot = new LatestSlot<number>();
          let next = 1;
          let lastTaken = 0;
          let pendingModel: number | undefined;
          const taken: number[] = [];
          for (const op of sequence) {
            if (op.kind === 'put') {
              slot.put(next);
              pendingModel = next++;
            } else {
              const v = slot.take();
              expect(v).toBe(pendingModel);
              pendingModel = undefined;
              if (v !== undefined) {
                expect(v).toBeGreaterThan(lastTaken);
                lastTaken = v;
                taken.push(v);
              }
            }
            expect(slot.puts).toBe(slot.takes + slot.dropsTotal + (slot.hasValue ? 1 : 0));
          }
          expect(slot.takes).toBe(taken.length);
          expect(slot.puts).toBe(next - 1);
          // Each value was either taken, dropped, or is still pending: never two of these.
          const dropped = next - 1 - taken.length - (slot.hasValue ? 1 : 0);
          expect(dropped).toBe(slot.dropsTotal);
        }),
      );
    });

    it('counts consecutive drops as the puts since the last take, minus the one pending', () => {
      fc.assert(
        fc.property(ops, (sequence) => {
          const slot = new LatestSlot<number>();
          let putsSinceTake = 0;
          for (const op of sequence) {
            if (op.kind === 'put') {
              slot.put(0);
              putsSinceTake++;
            } else if (slot.take() !== undefined || putsSinceTake === 0) {
              putsSinceTake = 0;
            }
            expect(slot.dropsConsecutive).toBe(Math.max(0, putsSinceTake - 1));
          }
        }),
      );
    });

    it('a waiting consumer always sees the newest value when it wakes', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 30 }), async (bursts) => {
          const slot = new LatestSlot<number>();
          let next = 1;
          let lastTaken = 0;
          for (const burst of bursts) {
            const waiting = slot.waitForValue();
            for (let i = 0; i < burst; i++) slot.put(next++);
            await waiting;
            const v = slot.take();
            expect(v).toBe(next - 1);
            expect(v).toBeGreaterThan(lastTaken);
            lastTaken = v as number;
          }
          expect(slot.puts).toBe(slot.takes + slot.dropsTotal);
        }),
      );
    });
  });
});
