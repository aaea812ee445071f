// A frame source whose underlying source can be replaced while capture runs (operator commands:
// switch source, change fps). The new source is opened and must deliver its first frame before it
// takes over, so a bad source is refused and the old one keeps running.
import { SourceSwitchError } from './errors';
import { CapturedFrame, FrameSource } from './frame';

/** Default bound on a new source's first frame (ffmpeg may take seconds to open a stream). */
export const DEFAULT_SWITCH_FIRST_FRAME_TIMEOUT_MS = 10_000;

/** A source opened by one call of frames(), with the abort that stops it. */
interface OpenedSource {
  source: FrameSource;
  controller: AbortController;
  iterator: AsyncIterator<CapturedFrame>;
  /** The frame that proved the source works, not yet yielded. */
  first?: CapturedFrame;
}

function open(source: FrameSource): OpenedSource {
  const controller = new AbortController();
  return { source, controller, iterator: source.frames(controller.signal)[Symbol.asyncIterator]() };
}

/** Stops an opened source in the background: abort (kills ffmpeg, ends sleeps), then return(). */
function release(opened: OpenedSource, reason: string): void {
  opened.controller.abort(new Error(reason));
  void Promise.resolve()
    .then(() => opened.iterator.return?.())
    .catch(() => undefined);
}

/**
 * A FrameSource (for runCapture) that reads from its current source and can switch to another one
 * at run time. Its capture times never go backwards: a frame not newer than the last one yielded
 * (possible right after a switch) is skipped.
 */
export class SwitchableSource implements FrameSource {
  private currentSource: FrameSource;
  /** A source opened by switchTo, waiting for the running iteration (or the next one) to take it. */
  private handover: OpenedSource | undefined;
  /** Wakes the running iteration out of its wait for the old source's next frame. */
  private wake: (() => void) | undefined;
  private lastCaptureTimeUs = -Infinity;
  /** Frames skipped because they were not newer than the last one yielded. */
  skippedFrames = 0;

  constructor(initial: FrameSource) {
    this.currentSource = initial;
  }

  get description(): string {
    return this.currentSource.description;
  }

  /** The source frames come from (or will, once the running iteration takes a handover). */
  get current(): FrameSource {
    return this.currentSource;
  }

  frames(signal?: AbortSignal): AsyncIterable<CapturedFrame> {
    return { [Symbol.asyncIterator]: () => this.iterate(signal) };
  }

  /**
   * Opens `next` and waits up to `firstFrameTimeoutMs` for its first frame; then `next` replaces
   * the current source (which is stopped). Throws SourceSwitchError (naming the source and why)
   * when `next` fails, ends or stays silent, and the current source runs on untouched.
   */
  async switchTo(next: FrameSource, firstFrameTimeoutMs: number = DEFAULT_SWITCH_FIRST_FRAME_TIMEOUT_MS): Promise<void> {
    const opened = open(next);
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<'silent'>((resolve) => (timer = setTimeout(() => resolve('silent'), firstFrameTimeoutMs)));
    const first = opened.iterator.next();
    try {
      const result = await Promise.race([first, silent]);
      if (result === 'silent') throw new SourceSwitchError(next.description, `no frame within ${firstFrameTimeoutMs} ms`);
      if (result.done) throw new SourceSwitchError(next.description, 'it ended before its first frame');
      opened.first = result.value;
    } catch (err) {
      first.catch(() => undefined);
      release(opened, 'source refused');
      if (err instanceof SourceSwitchError) throw err;
      throw new SourceSwitchError(next.description, (err as Error).message);
    } finally {
      clearTimeout(timer);
    }
    if (this.handover !== undefined) release(this.handover, 'source replaced before it started');
    this.handover = opened;
    this.currentSource = next;
    this.wake?.();
  }

  /** Stops a switched-to source that no iteration took (the capture loop had ended). */
  close(): void {
    if (this.handover !== undefined) release(this.handover, 'capture stopped');
    this.handover = undefined;
  }

  private async *iterate(signal?: AbortSignal): AsyncGenerator<CapturedFrame> {
    let opened = this.takeHandover() ?? open(this.currentSource);
    const onAbort = (): void => opened.controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        signal?.throwIfAborted();
        const handover = this.takeHandover();
        if (handover !== undefined) {
          release(opened, 'source replaced');
          opened = handover;
        }
        let frame: CapturedFrame;
        if (opened.first !== undefined) {
          frame = opened.first;
          opened.first = undefined;
        } else {
          const next = opened.iterator.next();
          const switched = new Promise<'switched'>((resolve) => (this.wake = () => resolve('switched')));
          const result = await Promise.race([next, switched]);
          this.wake = undefined;
          if (result === 'switched') {
            // The old source's pending frame no longer matters; release() makes it settle.
            next.catch(() => undefined);
            continue;
          }
          if (result.done) return;
          frame = result.value;
        }
        if (frame.captureTimeUs <= this.lastCaptureTimeUs) {
          this.skippedFrames++;
          continue;
        }
        this.lastCaptureTimeUs = frame.captureTimeUs;
        yield frame;
      }
    } finally {
      this.wake = undefined;
      signal?.removeEventListener('abort', onAbort);
      release(opened, 'capture iteration ended');
    }
  }

  private takeHandover(): OpenedSource | undefined {
    const handover = this.handover;
    this.handover = undefined;
    return handover;
  }
}
