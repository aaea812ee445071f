// The ffmpeg source: a video file or an RTSP/HTTP URL decoded by an ffmpeg child process that
// writes MJPEG to its stdout. A file plays at its own rate, every frame once, stamped from its
// presentation timestamps (read from the showinfo filter on stderr); a URL is stamped at arrival.
// The child is owned by one iteration of the source: it is stopped (SIGTERM, then SIGKILL after a
// bound) when the consumer breaks, on abort and on error, and a process 'exit' hook kills any
// child still alive, so no ffmpeg outlives the capture process.
import { PixelFormat } from '@framewire/proto';
import { ChildProcess, spawn } from 'node:child_process';
import { FfmpegError, withoutUrlPasswords } from './errors';
import { parseFfmpegLogLine, ShowinfoTimestamps } from './ffmpeg-log';
import { captureClockUs, CaptureLogger, CapturedFrame, FrameSource, silentLogger } from './frame';
import { jpegSize, MjpegSplitter } from './mjpeg';
import { PresentationClock } from './presentation-clock';

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
const DEFAULT_QSCALE = 5;
/** A longer stderr line is cut (ffmpeg prints codec side data as long hex lines). */
const MAX_STDERR_LINE_CHARS = 16 * 1024;
/** Timestamps read on stderr for frames not yet out on stdout; more means the two are out of step. */
export const MAX_TIMESTAMPS_AHEAD = 256;
/** Share of a rate cap's interval by which a frame may come early and still open its slot
 *  (timestamps are rounded to their time base). */
const CAP_SLOT_TOLERANCE = 0.001;
/** Output timestamps in µs, each frame's number: always increasing, whatever the input's (a
 *  repeated or backward timestamp would make the mjpeg encoder fail). */
const OUTPUT_TIME_BASE = '1/1000000';

export interface FfmpegSourceOptions {
  /** A file path or a URL ffmpeg can open (rtsp://, http://, ...). */
  input: string;
  /** At most this many frames per second of the stream's timeline, by dropping frames (never
   *  repeating one); undefined: every frame, at the stream's own rate. */
  maxFps?: number;
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

/**
 * The filter graph: the rate cap, then (files) showinfo, whose line per frame gives its timestamp,
 * then output timestamps that only increase. The cap keeps a frame when it is the first in its
 * 1/maxFps slot of the timeline, so a 30 fps stream capped at 15 keeps every other frame, and a
 * frame without a timestamp is kept.
 */
export function ffmpegFilterGraph(options: Pick<FfmpegSourceOptions, 'input' | 'maxFps'>): string {
  const filters: string[] = [];
  if (options.maxFps !== undefined) {
    const slot = (t: string) => `floor(${t}*${options.maxFps}+${CAP_SLOT_TOLERANCE})`;
    filters.push(`select='isnan(prev_selected_t)+isnan(t)+gt(${slot('t')},${slot('prev_selected_t')})'`);
  }
  if (!isStreamUrl(options.input)) filters.push('showinfo=checksum=0');
  filters.push(`settb=${OUTPUT_TIME_BASE}`, 'setpts=N');
  return filters.join(',');
}

/** The ffmpeg command line for `options`, without the program name. */
export function ffmpegArguments(options: FfmpegSourceOptions): string[] {
  const file = !isStreamUrl(options.input);
  return [
    '-hide_banner',
    // Every line tagged with its level; a file's showinfo lines are at info.
    '-loglevel',
    file ? 'level+info' : 'level+error',
    '-nostats',
    '-nostdin',
    ...(file && (options.realtime ?? true) ? ['-re'] : []),
    ...(file && options.loop ? ['-stream_loop', '-1'] : []),
    '-i',
    options.input,
    '-an',
    '-vf',
    ffmpegFilterGraph(options),
    // One output frame per filtered frame: no frame repeated or dropped to make a constant rate.
    '-fps_mode',
    'passthrough',
    '-enc_time_base',
    OUTPUT_TIME_BASE.replace('/', ':'),
    '-f',
    'image2pipe',
    '-c:v',
    'mjpeg',
    '-q:v',
    String(options.jpegQuality !== undefined ? qscaleForQuality(options.jpegQuality) : DEFAULT_QSCALE),
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
    description: `ffmpeg:${shownInput}${options.loop ? ' (looped)' : ''}${options.maxFps !== undefined ? ` at most ${options.maxFps} fps` : ''}`,
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
        // A file's frames are stamped from their timestamps: frame k on stdout pairs with the k-th
        // showinfo line on stderr. Either pipe may be read first, so each side waits for the other.
        /** Timestamps read for frames not yet out on stdout, oldest first. */
        timestampsAhead: [] as (number | undefined)[],
        /** The newest frame out on stdout whose timestamp has not been read yet, and when it came. */
        unstamped: undefined as { data: Buffer; arrivalUs: number } | undefined,
        /** Timestamps still to come for frames skipped while they waited for theirs. */
        timestampsToDiscard: 0,
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
      const offer = (data: Buffer, captureTimeUs: number): void => {
        if (state.latest !== undefined) state.framesSkipped++;
        state.latest = { data, captureTimeUs };
        wake();
      };
      const file = !isStreamUrl(options.input);
      const clock = new PresentationClock();
      const timestamps = new ShowinfoTimestamps();

      const splitter = new MjpegSplitter();
      child.stdout?.on('data', (chunk: Buffer) => {
        let frames: Buffer[];
        try {
          frames = splitter.push(chunk);
        } catch (err) {
          fail(err as Error);
          return;
        }
        const arrivalUs = captureClockUs();
        for (const data of frames) {
          state.framesSeen++;
          if (!file) offer(data, arrivalUs);
          else if (state.timestampsAhead.length > 0) offer(data, clock.stamp(state.timestampsAhead.shift(), arrivalUs));
          else {
            if (state.unstamped !== undefined) {
              state.framesSkipped++;
              state.timestampsToDiscard++;
            }
            state.unstamped = { data, arrivalUs };
          }
        }
      });
      const onTimestamp = (ptsUs: number | undefined): void => {
        if (state.failure !== undefined) return;
        if (state.timestampsToDiscard > 0) state.timestampsToDiscard--;
        else if (state.unstamped !== undefined) {
          offer(state.unstamped.data, clock.stamp(ptsUs, state.unstamped.arrivalUs));
          state.unstamped = undefined;
        } else if (state.timestampsAhead.push(ptsUs) > MAX_TIMESTAMPS_AHEAD) {
          fail(new FfmpegError('FFMPEG_TIMESTAMPS_OUT_OF_STEP', `ffmpeg reported ${state.timestampsAhead.length} frame timestamps of ${shownInput} ahead of its frames`, shownInput));
        }
      };
      const onStderrLine = (line: string): void => {
        const timestamp = file ? timestamps.read(line) : undefined;
        if (timestamp !== undefined) return onTimestamp(timestamp.ptsUs);
        const { problem, text } = parseFfmpegLogLine(line);
        if (!problem) return;
        const shown = withoutUrlPasswords(text);
        state.stderrTail.push(shown);
        if (state.stderrTail.length > STDERR_TAIL_LINES) state.stderrTail.shift();
        logger.warn({ message: 'ffmpeg', pid: child.pid, stderr: shown }, 'FfmpegSource');
      };
      let stderrRest = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        const lines = (stderrRest + chunk.toString('utf8')).split('\n');
        stderrRest = (lines.pop() ?? '').slice(0, MAX_STDERR_LINE_CHARS);
        for (const line of lines) {
          const trimmed = line.trim();
          if (trimmed) onStderrLine(trimmed.slice(0, MAX_STDERR_LINE_CHARS));
        }
      });
      child.once('error', (err) =>
        fail(new FfmpegError('FFMPEG_SPAWN_FAILED', `cannot run ${options.ffmpegPath ?? DEFAULT_FFMPEG_PATH}: ${err.message}`, shownInput)),
      );
      // 'close' comes after stdout and stderr ended, so every frame and error line is in.
      child.once('close', (code, sig) => {
        if (stderrRest.trim()) onStderrLine(stderrRest.trim());
        // A frame whose timestamp never came keeps its arrival time.
        if (state.unstamped !== undefined) offer(state.unstamped.data, clock.stamp(undefined, state.unstamped.arrivalUs));
        state.unstamped = undefined;
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
          { message: 'ffmpeg stopped', pid: child.pid, frames: state.framesSeen, framesSkipped: state.framesSkipped, timestampDiscontinuities: clock.reanchors },
          'FfmpegSource',
        );
      }
    },
  };
}
