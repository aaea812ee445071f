// The ffmpeg source: a video file or an RTSP/HTTP URL decoded by an ffmpeg child process that
// writes MJPEG to its stdout. The child is owned by one iteration of the source: it is stopped
// (SIGTERM, then SIGKILL after a bound) when the consumer breaks, on abort and on error, and a
// process 'exit' hook kills any child still alive, so no ffmpeg outlives the capture process.
import { PixelFormat } from '@framewire/proto';
import { ChildProcess, spawn } from 'node:child_process';
import { FfmpegError, withoutUrlPasswords } from './errors';
import { captureClockUs, CaptureLogger, CapturedFrame, FrameSource, silentLogger } from './frame';
import { jpegSize, MjpegSplitter } from './mjpeg';

export const DEFAULT_FFMPEG_PATH = 'ffmpeg';
/** No first frame within this long: FFMPEG_START_TIMEOUT. */
export const DEFAULT_FFMPEG_START_TIMEOUT_MS = 10_000;
/** After SIGTERM, how long ffmpeg may take to exit before SIGKILL. */
export const DEFAULT_FFMPEG_KILL_AFTER_MS = 2_000;
/** Bound on waiting for the exit after SIGKILL (the kernel makes it near-instant). */
const EXIT_AFTER_KILL_MS = 1_000;
/** ffmpeg stderr lines kept for the error of a failed exit. */
const STDERR_TAIL_LINES = 8;
/** ffmpeg's mjpeg qscale range: 2 (best) to 31 (worst). */
const QSCALE_BEST = 2;
const QSCALE_WORST = 31;

export interface FfmpegSourceOptions {
  /** A file path or a URL ffmpeg can open (rtsp://, http://, ...). */
  input: string;
  /** Output frame rate (`-vf fps=N`); undefined keeps the input's rate. */
  fps?: number;
  /** Play a file again from the start when it ends (`-stream_loop -1`; ignored for URLs). */
  loop: boolean;
  /** JPEG quality 1-100, mapped to ffmpeg's -q:v 31..2 (default -q:v 5). */
  jpegQuality?: number;
  /** Read a file at its native rate (`-re`), as a camera would deliver it. Default true; URLs never. */
  realtime?: boolean;
  ffmpegPath?: string;
  startTimeoutMs?: number;
  killAfterMs?: number;
  logger?: CaptureLogger;
  /** Called with each ffmpeg child right after it is spawned (tests watch its pid). */
  onSpawn?: (child: ChildProcess) => void;
}

/** A URL rather than a file: ffmpeg reads it live, without -re or -stream_loop. */
export function isStreamUrl(input: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(input) && !input.toLowerCase().startsWith('file://');
}

/** ffmpeg's -q:v for a JPEG quality 1-100 (100 → 2, 1 → 31). */
export function qscaleForQuality(quality: number): number {
  const q = Math.round(QSCALE_WORST - ((quality - 1) / 99) * (QSCALE_WORST - QSCALE_BEST));
  return Math.min(QSCALE_WORST, Math.max(QSCALE_BEST, q));
}

/** The ffmpeg command line for `options`, without the program name. */
export function ffmpegArguments(options: FfmpegSourceOptions): string[] {
  const file = !isStreamUrl(options.input);
  return [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    ...(file && (options.realtime ?? true) ? ['-re'] : []),
    ...(file && options.loop ? ['-stream_loop', '-1'] : []),
    '-i',
    options.input,
    '-an',
    ...(options.fps !== undefined ? ['-vf', `fps=${options.fps}`] : []),
    '-f',
    'image2pipe',
    '-c:v',
    'mjpeg',
    '-q:v',
    String(options.jpegQuality !== undefined ? qscaleForQuality(options.jpegQuality) : 5),
    'pipe:1',
  ];
}

/** Every ffmpeg child alive, for the process 'exit' hook. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function adopt(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' handlers run synchronously as the process ends: SIGKILL is the only thing left to do.
    process.on('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
    });
  }
}

/** Pids of the ffmpeg children this process has running. */
export function liveFfmpegPids(): number[] {
  return [...liveChildren].flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL if it has not exited within `killAfterMs`; resolves once it exited. */
export async function stopChild(child: ChildProcess, killAfterMs: number): Promise<void> {
  if (hasExited(child)) return;
  child.kill('SIGTERM');
  if (await waitForExit(child, killAfterMs)) return;
  child.kill('SIGKILL');
  await waitForExit(child, EXIT_AFTER_KILL_MS);
}

export function ffmpegSource(options: FfmpegSourceOptions): FrameSource {
  const logger = options.logger ?? silentLogger;
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_FFMPEG_START_TIMEOUT_MS;
  // The input as every message shows it: a camera URL's password never leaves ffmpeg's arguments.
  const shownInput = withoutUrlPasswords(options.input);
  return {
    description: `ffmpeg:${shownInput}${options.loop ? ' (looped)' : ''}`,
    async *frames(signal?: AbortSignal): AsyncGenerator<CapturedFrame> {
      signal?.throwIfAborted();
      const args = ffmpegArguments(options);
      const child = spawn(options.ffmpegPath ?? DEFAULT_FFMPEG_PATH, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      adopt(child);
      options.onSpawn?.(child);
      logger.debug?.({ message: 'ffmpeg started', pid: child.pid, args: args.map(withoutUrlPasswords) }, 'FfmpegSource');

      // One explicit state object, written by the child's event handlers and read by the loop.
      const state = {
        /** The newest complete frame not yet yielded: a slow consumer gets the latest, never a backlog. */
        latest: undefined as { data: Buffer; captureTimeUs: number } | undefined,
        framesSkipped: 0,
        framesSeen: 0,
        failure: undefined as Error | undefined,
        ended: false,
        stderrTail: [] as string[],
        wake: undefined as (() => void) | undefined,
      };
      const wake = (): void => {
        const w = state.wake;
        state.wake = undefined;
        w?.();
      };
      const fail = (err: Error): void => {
        state.failure ??= err;
        wake();
      };

      const splitter = new MjpegSplitter();
      child.stdout?.on('data', (chunk: Buffer) => {
        let frames: Buffer[];
        try {
          frames = splitter.push(chunk);
        } catch (err) {
          fail(err as Error);
          return;
        }
        for (const data of frames) {
          if (state.latest !== undefined) state.framesSkipped++;
          state.latest = { data, captureTimeUs: captureClockUs() };
          state.framesSeen++;
        }
        if (frames.length > 0) wake();
      });
      let stderrRest = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        const lines = (stderrRest + chunk.toString('utf8')).split('\n');
        stderrRest = lines.pop() ?? '';
        for (const line of lines.map((l) => withoutUrlPasswords(l.trim())).filter(Boolean)) {
          state.stderrTail.push(line);
          if (state.stderrTail.length > STDERR_TAIL_LINES) state.stderrTail.shift();
          logger.warn({ message: 'ffmpeg', pid: child.pid, stderr: line }, 'FfmpegSource');
        }
      });
      child.once('error', (err) =>
        fail(new FfmpegError('FFMPEG_SPAWN_FAILED', `cannot run ${options.ffmpegPath ?? DEFAULT_FFMPEG_PATH}: ${err.message}`, shownInput)),
      );
      // 'close' comes after stdout and stderr ended, so every frame and error line is in.
      child.once('close', (code, sig) => {
        if (stderrRest.trim()) state.stderrTail.push(withoutUrlPasswords(stderrRest.trim()));
        if (code === 0) state.ended = true;
        else {
          const how = sig !== null ? `was killed by ${sig}` : `exited with code ${code}`;
          fail(new FfmpegError('FFMPEG_EXITED', `ffmpeg (pid ${child.pid}) reading ${shownInput} ${how}`, shownInput, state.stderrTail.slice()));
        }
        wake();
      });

      const onAbort = (): void => wake();
      signal?.addEventListener('abort', onAbort);
      const startTimer = setTimeout(() => {
        if (state.framesSeen === 0) {
          fail(new FfmpegError('FFMPEG_START_TIMEOUT', `ffmpeg gave no frame of ${shownInput} within ${startTimeoutMs} ms`, shownInput, state.stderrTail.slice()));
        }
      }, startTimeoutMs);
      try {
        for (;;) {
          signal?.throwIfAborted();
          const frame = state.latest;
          if (frame !== undefined) {
            state.latest = undefined;
            const { width, height } = jpegSize(frame.data);
            yield { data: frame.data, width, height, pixelFormat: PixelFormat.PIXEL_FORMAT_JPEG, captureTimeUs: frame.captureTimeUs };
            continue;
          }
          if (state.failure) throw state.failure;
          if (state.ended) return;
          await new Promise<void>((resolve) => (state.wake = resolve));
        }
      } finally {
        clearTimeout(startTimer);
        signal?.removeEventListener('abort', onAbort);
        await stopChild(child, options.killAfterMs ?? DEFAULT_FFMPEG_KILL_AFTER_MS);
        logger.debug?.(
          { message: 'ffmpeg stopped', pid: child.pid, frames: state.framesSeen, framesSkipped: state.framesSkipped },
          'FfmpegSource',
        );
      }
    },
  };
}
