// The one backoff: doubling steps up to the cap, each wait in the upper half of its step, a reset
// after success, and exact steps when jitter is off.
import { Backoff, DEFAULT_BACKOFF } from './backoff';

describe('Backoff', () => {
  it('doubles its step from initialMs up to maxMs and starts again after reset', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1_000, jitter: false });
    expect(Array.from({ length: 6 }, () => backoff.next())).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(backoff.attempts).toBe(6);
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });

  it('draws each wait from the upper half of its step', () => {
    expect(new Backoff({ initialMs: 400, maxMs: 400, random: () => 0 }).next()).toBe(400);
    expect(new Backoff({ initialMs: 400, maxMs: 400, random: () => 0.999_999 }).next()).toBe(200);
    const backoff = new Backoff();
    for (let i = 0; i < 200; i++) {
      const step = Math.min(DEFAULT_BACKOFF.maxMs, DEFAULT_BACKOFF.initialMs * 2 ** i);
      const wait = backoff.next();
      expect(wait).toBeGreaterThanOrEqual(step / 2);
      expect(wait).toBeLessThanOrEqual(step);
    }
  });

  it('keeps to the cap however many attempts fail', () => {
    const backoff = new Backoff({ initialMs: 1, maxMs: 5_000, jitter: false });
    for (let i = 0; i < 1_000; i++) backoff.next();
    expect(backoff.next()).toBe(5_000);
  });

  it('refuses steps that cannot back off, naming both', () => {
    expect(() => new Backoff({ initialMs: 0 })).toThrow('backoff needs 0 < initialMs <= maxMs (got initialMs 0, maxMs 5000)');
    expect(() => new Backoff({ initialMs: 500, maxMs: 100 })).toThrow(RangeError);
  });
});
