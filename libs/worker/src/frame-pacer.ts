// The worker's target frame rate: how long to wait before asking for the next frame so that frames
// are taken at most `fps` times a second. Waiting happens before the ask, so the frame taken is the
// newest when the worker is ready (frames missed meanwhile are drops at the supplier, not a queue).

/** Highest target rate; 0 means "as fast as frames come". */
export const MAX_WORKER_FPS = 240;

/** A long wait is cut into slices so that a new rate (worker.set_fps) takes effect promptly. */
export const MAX_PACING_SLICE_MS = 100;

export class FramePacer {
  private targetFps: number;
  /** performance.now() when the previous frame was asked for; undefined before the first. */
  private lastAskAt: number | undefined;

  constructor(fps: number) {
    this.targetFps = FramePacer.checked(fps);
  }

  get fps(): number {
    return this.targetFps;
  }

  /** 0 = as fast as frames come; fractions allowed (0.5 = one frame every 2 s). Throws RangeError naming the value. */
  setFps(fps: number): void {
    this.targetFps = FramePacer.checked(fps);
  }

  /** Milliseconds to wait at `now` before asking for the next frame (0: ask now). */
  delayMs(now: number): number {
    if (this.targetFps === 0 || this.lastAskAt === undefined) return 0;
    return Math.max(0, this.lastAskAt + 1000 / this.targetFps - now);
  }

  /** Records that a frame is asked for at `now`. */
  asked(now: number): void {
    this.lastAskAt = now;
  }

  /** Waits until the next frame may be asked for (re-reading the rate every slice); false when aborted. */
  async waitForTurn(signal: AbortSignal, now: () => number = () => performance.now()): Promise<boolean> {
    for (let delay = this.delayMs(now()); delay > 0; delay = this.delayMs(now())) {
      if (signal.aborted) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(delay, MAX_PACING_SLICE_MS));
        signal.addEventListener('abort', done, { once: true });
        function done(): void {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
      });
    }
    return !signal.aborted;
  }

  private static checked(fps: number): number {
    if (typeof fps !== 'number' || !(fps >= 0 && fps <= MAX_WORKER_FPS)) {
      throw new RangeError(`fps must be a number 0..${MAX_WORKER_FPS} (0 = as fast as frames come), got ${JSON.stringify(fps)}`);
    }
    return fps;
  }
}
