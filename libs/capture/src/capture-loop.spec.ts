import { PixelFormat } from '@framewire/proto';
import { runCapture } from './capture-loop';
import { CapturedFrame, FrameSource, sleep } from './frame';
import { createCaptureStats } from './stats';

const frame = (): CapturedFrame => ({ data: Buffer.of(1), width: 1, height: 1, pixelFormat: PixelFormat.PIXEL_FORMAT_JPEG, captureTimeUs: 0 });

/** A source whose runs follow `script(run)`: how many frames to give, then 'stall', 'fail' or 'end'. */
function scriptedSource(script: (run: number) => { frames: number; then: 'stall' | 'fail' | 'end' }) {
  const log = { opened: 0, closed: 0 };
  const source: FrameSource = {
    description: 'scripted',
    async *frames(signal?: AbortSignal) {
      const run = log.opened++;
      try {
        const { frames, then } = script(run);
        for (let i = 0; i < frames; i++) {
          await sleep(5, signal);
          yield frame();
        }
        if (then === 'fail') throw Object.assign(new Error(`run ${run} failed`), { code: 'TEST' });
        if (then === 'stall') await sleep(60_000, signal);
      } finally {
        log.closed++;
      }
    },
  };
  return { source, log };
}

describe('runCapture', () => {
  it('restarts a source that stops delivering (watchdog), counting the restart', async () => {
    const { source, log } = scriptedSource((run) => (run === 0 ? { frames: 3, then: 'stall' } : { frames: 2, then: 'end' }));
    const stats = createCaptureStats();
    const end = await runCapture({ source, stats, onFrame: () => undefined, watchdogMs: 150, restartBackoff: { initialMs: 10 }, signal: new AbortController().signal });
    expect(end).toBe('source-ended');
    expect(stats).toMatchObject({ framesCaptured: 5, sourceRestarts: 1 });
    expect(log).toEqual({ opened: 2, closed: 2 });
  });

  it('gives a restarted source its first-frame timeout before the watchdog applies', async () => {
    const { source, log } = scriptedSource((run) => (run < 2 ? { frames: 0, then: 'stall' } : { frames: 1, then: 'end' }));
    const stats = createCaptureStats();
    const started = performance.now();
    await runCapture({ source, stats, onFrame: () => undefined, watchdogMs: 50, firstFrameTimeoutMs: 200, restartBackoff: { initialMs: 10, jitter: false }, signal: new AbortController().signal });
    expect(performance.now() - started).toBeGreaterThanOrEqual(2 * 200);
    expect(stats.sourceRestarts).toBe(2);
    expect(log.closed).toBe(3);
  });

  it('restarts a failing source with growing delays', async () => {
    const { source } = scriptedSource((run) => (run < 3 ? { frames: 0, then: 'fail' } : { frames: 1, then: 'end' }));
    const stats = createCaptureStats();
    const started = performance.now();
    await runCapture({ source, stats, onFrame: () => undefined, restartBackoff: { initialMs: 40, jitter: false }, signal: new AbortController().signal });
    // 40 + 80 + 160 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(270);
    expect(stats.sourceRestarts).toBe(3);
  });

  it('closes the source and returns promptly when aborted', async () => {
    const { source, log } = scriptedSource(() => ({ frames: 2, then: 'stall' }));
    const stats = createCaptureStats();
    const controller = new AbortController();
    const frames: CapturedFrame[] = [];
    const running = runCapture({ source, stats, onFrame: (f) => frames.push(f), watchdogMs: 10_000, signal: controller.signal });
    await sleep(100);
    const started = performance.now();
    controller.abort(new Error('stop'));
    expect(await running).toBe('aborted');
    expect(performance.now() - started).toBeLessThan(1_000); // not the 10 s watchdog
    expect(frames).toHaveLength(2);
    expect(log).toEqual({ opened: 1, closed: 1 });
    expect(stats.sourceRestarts).toBe(0);
  });
});
