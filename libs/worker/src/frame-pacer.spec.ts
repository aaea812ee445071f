import { FramePacer } from './frame-pacer';

describe('FramePacer', () => {
  it('asks at once when the rate is 0 (as fast as frames come)', () => {
    const pacer = new FramePacer(0);
    pacer.asked(1_000);
    expect(pacer.delayMs(1_001)).toBe(0);
  });

  it('waits 1/fps after the previous ask, and not at all once that has passed', () => {
    const pacer = new FramePacer(10);
    expect(pacer.delayMs(0)).toBe(0);
    pacer.asked(1_000);
    expect(pacer.delayMs(1_030)).toBeCloseTo(70);
    expect(pacer.delayMs(1_150)).toBe(0);
  });

  it('applies a new rate to the wait in progress', async () => {
    const pacer = new FramePacer(0.5); // one frame every 2 s
    pacer.asked(performance.now());
    const waiting = pacer.waitForTurn(new AbortController().signal);
    pacer.setFps(0);
    await expect(waiting).resolves.toBe(true);
  });

  it('stops waiting when aborted', async () => {
    const pacer = new FramePacer(1);
    pacer.asked(performance.now());
    const stop = new AbortController();
    const waiting = pacer.waitForTurn(stop.signal);
    stop.abort();
    await expect(waiting).resolves.toBe(false);
  });

  it('refuses a rate outside 0..240, naming the value', () => {
    expect(() => new FramePacer(-1)).toThrow('fps must be a number 0..240 (0 = as fast as frames come), got -1');
    expect(() => new FramePacer(10).setFps(241)).toThrow('got 241');
  });
});
