// Capture times from presentation timestamps: the file's own gaps whatever the arrival jitter, a new
// start at arrival on a discontinuity, and always increasing.
import fc from 'fast-check';
import { MAX_PRESENTATION_DRIFT_US, PresentationClock } from './presentation-clock';

const START_US = 1_800_000_000_000_000;

describe('PresentationClock', () => {
  it('stamps the first frame with its arrival and each later one with that start plus its timestamp, whatever the arrival jitter', () => {
    const clock = new PresentationClock();
    // Frames 100 ms apart in the file, arriving in bursts and late (a loaded machine, a pipe).
    const arrivals = [0, 150_000, 151_000, 420_000, 401_000 + 20_000];
    const stamps = arrivals.map((arrival, k) => clock.stamp(5_000_000 + k * 100_000, START_US + arrival));
    expect(stamps).toEqual([0, 1, 2, 3, 4].map((k) => START_US + k * 100_000));
    expect(clock.reanchors).toBe(0);
  });

  it('starts the timeline again at arrival when a timestamp repeats or goes back', () => {
    const clock = new PresentationClock();
    clock.stamp(0, START_US);
    expect(clock.stamp(100_000, START_US + 100_000)).toBe(START_US + 100_000);
    // A repeat arriving 30 ms later, then a step back: each at its arrival, later frames after it.
    expect(clock.stamp(100_000, START_US + 130_000)).toBe(START_US + 130_000);
    expect(clock.stamp(50_000, START_US + 160_000)).toBe(START_US + 160_000);
    expect(clock.stamp(150_000, START_US + 290_000)).toBe(START_US + 260_000);
    expect(clock.reanchors).toBe(2);
  });

  it('starts again at arrival when the timeline drifts more than a second from arrival (a stall, a jump)', () => {
    const clock = new PresentationClock();
    clock.stamp(0, START_US);
    const late = START_US + 100_000 + MAX_PRESENTATION_DRIFT_US + 1;
    expect(clock.stamp(100_000, late)).toBe(late);
    expect(clock.stamp(200_000, late + 5_000)).toBe(late + 100_000);
    // A timestamp an hour ahead of a frame that came 100 ms later.
    expect(clock.stamp(3_600_000_000, late + 200_000)).toBe(late + 200_000);
    expect(clock.reanchors).toBe(2);
  });

  it('stamps a frame without a timestamp at its arrival, and the next with one starts the timeline there', () => {
    const clock = new PresentationClock();
    expect(clock.stamp(undefined, START_US)).toBe(START_US);
    expect(clock.stamp(700_000, START_US + 40_000)).toBe(START_US + 40_000);
    expect(clock.stamp(800_000, START_US + 60_000)).toBe(START_US + 140_000);
  });

  it('never gives a capture time that is not after the previous one, nor one more than a second from its arrival', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            pts: fc.option(fc.integer({ min: -10_000_000_000, max: 10_000_000_000 }), { nil: undefined }),
            arrivalStep: fc.integer({ min: -50_000, max: 3_000_000 }),
          }),
          { minLength: 1, maxLength: 200 },
        ),
        (frames) => {
          const clock = new PresentationClock();
          let arrival = START_US;
          let last = Number.NEGATIVE_INFINITY;
          let lastArrival = Number.NEGATIVE_INFINITY;
          for (const { pts, arrivalStep } of frames) {
            // Arrival times come from a monotonic clock; a negative step stands for "same instant".
            arrival = Math.max(arrival, arrival + arrivalStep);
            const stamp = clock.stamp(pts, arrival);
            expect(Number.isSafeInteger(stamp)).toBe(true);
            expect(stamp).toBeGreaterThan(last);
            // Ahead of arrival only by the drift bound, or by 1 µs steps after frames that arrived together.
            expect(stamp - Math.max(arrival, lastArrival)).toBeLessThanOrEqual(MAX_PRESENTATION_DRIFT_US + frames.length);
            expect(arrival - stamp).toBeLessThanOrEqual(MAX_PRESENTATION_DRIFT_US);
            last = stamp;
            lastArrival = arrival;
          }
        },
      ),
    );
  });
});
