import { SlidingRate } from './publish-rate';

describe('SlidingRate', () => {
  it('is 0 before anything was recorded', () => {
    expect(new SlidingRate().perSecond(1000)).toBe(0);
  });

  it('measures a steady rate over its window, and forgets what left the window', () => {
    const rate = new SlidingRate(5_000, 10);
    let t = 1_000_000;
    for (let i = 0; i < 600; i++, t += 1000 / 30) rate.record(t); // 30 fps for 20 s
    expect(rate.perSecond(t)).toBeCloseTo(30, 0);
    for (let i = 0; i < 150; i++, t += 100) rate.record(t); // then 10 fps for 15 s
    expect(rate.perSecond(t)).toBeCloseTo(10, 0);
    expect(rate.perSecond(t + 6_000)).toBe(0);
  });

  it('measures over the time since the first event when that is shorter than the window', () => {
    const rate = new SlidingRate(5_000, 10);
    for (let i = 0; i < 20; i++) rate.record(10_000 + i * 100); // 10 fps for 2 s
    expect(rate.perSecond(12_000)).toBeCloseTo(10, 0);
  });
});
