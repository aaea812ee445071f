import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { runCapture } from './capture-loop';
import { FfmpegError, withoutUrlPasswords } from './errors';
import { isProcessAlive, describeIfInstalled } from '@framewire/testing';
import { ffmpegArguments, ffmpegSource, liveFfmpegPids, qscaleForQuality, stopChild } from './ffmpeg';
import { CapturedFrame, FrameSource } from './frame';
import { jpegSize } from './mjpeg';
import { createCaptureStats } from './stats';

const VIDEO_SECONDS = 2;
const VIDEO_FPS = 10;
const FRAME_INTERVAL_US = 1e6 / VIDEO_FPS;

let folder: string;
let video: string;

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The first `count` frames of one run of `source` (all of them, when it ends first). */
async function take(source: FrameSource, count: number): Promise<CapturedFrame[]> {
  const frames: CapturedFrame[] = [];
  for await (const frame of source.frames()) {
    frames.push(frame);
    if (frames.length >= count) break;
  }
  return frames;
}

function gapsUs(frames: readonly CapturedFrame[]): number[] {
  return frames.slice(1).map((f, i) => f.captureTimeUs - frames[i].captureTimeUs);
}

/** Indexes of frames whose bytes equal the previous frame's: one frame delivered twice. */
function repeatedContent(frames: readonly CapturedFrame[]): number[] {
  return frames.flatMap((f, i) => (i > 0 && Buffer.compare(Buffer.from(f.data), Buffer.from(frames[i - 1].data)) === 0 ? [i] : []));
}

/** A stand-in for ffmpeg that ignores its arguments and runs `body` (sh). */
async function fakeFfmpeg(name: string, body: string): Promise<string> {
  const path = join(folder, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

afterEach(() => {
  expect(liveFfmpegPids()).toEqual([]);
});

describe('ffmpegArguments', () => {
  it('reads a file at its rate, every frame once, with showinfo for the timestamps; loops it on request', () => {
    expect(ffmpegArguments({ input: '/v.mp4', loop: true })).toEqual([
      '-hide_banner', '-loglevel', 'level+info', '-nostats', '-nostdin', '-re', '-stream_loop', '-1', '-i', '/v.mp4', '-an',
      '-vf', 'showinfo=checksum=0,settb=1/1000000,setpts=N',
      '-fps_mode', 'passthrough', '-enc_time_base', '1:1000000',
      '-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', '5', 'pipe:1',
    ]);
  });

  it('caps the rate by selecting the first frame of each 1/maxFps slot of the timeline, never with the fps filter', () => {
    const args = ffmpegArguments({ input: '/v.mp4', loop: false, maxFps: 5 });
    expect(args[args.indexOf('-vf') + 1]).toBe(
      "select='isnan(prev_selected_t)+isnan(t)+gt(floor(t*5+0.001),floor(prev_selected_t*5+0.001))',showinfo=checksum=0,settb=1/1000000,setpts=N",
    );
  });

  it('reads URLs live: no -re, no -stream_loop, no showinfo (frames are stamped when they arrive)', () => {
    const args = ffmpegArguments({ input: 'rtsp://cam/stream', loop: true });
    expect(args).not.toContain('-re');
    expect(args).not.toContain('-stream_loop');
    expect(args[args.indexOf('-loglevel') + 1]).toBe('level+error');
    expect(args[args.indexOf('-vf') + 1]).toBe('settb=1/1000000,setpts=N');
  });

  it('maps JPEG quality onto ffmpeg qscale', () => {
    expect([qscaleForQuality(100), qscaleForQuality(1), qscaleForQuality(90)]).toEqual([2, 31, 5]);
  });
});

describe('withoutUrlPasswords', () => {
  it.each([
    ['rtsp://admin:hunter2@cam/stream', 'rtsp://admin:***@cam/stream'],
    ['ffmpeg:http://u:p%40ss@10.0.0.5:8080/mjpg', 'ffmpeg:http://u:***@10.0.0.5:8080/mjpg'],
    ['[rtsp @ 0x5571] rtsp://a:b@h/s: 401 Unauthorized; rtsp://c:d@h/t', '[rtsp @ 0x5571] rtsp://a:***@h/s: 401 Unauthorized; rtsp://c:***@h/t'],
    ['rtsp://cam/stream', 'rtsp://cam/stream'],
    ['rtsp://user@cam/stream', 'rtsp://user@cam/stream'],
    ['/videos/clip:1@2.mp4', '/videos/clip:1@2.mp4'],
  ])('shows %s as %s', (text, shown) => {
    expect(withoutUrlPasswords(text)).toBe(shown);
  });
});

describeIfInstalled('ffmpeg', 'apt-get install ffmpeg')('ffmpegSource', () => {
  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), 'fw-ffmpeg-'));
    video = join(folder, 'testsrc2.mp4');
    const encoders = execFileSync('ffmpeg', ['-hide_banner', '-encoders'], { encoding: 'utf8' });
    const codec = /\blibx264\b/.test(encoders) ? ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'] : ['-c:v', 'mjpeg'];
    if (codec[1] === 'mjpeg') video = join(folder, 'testsrc2.avi');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${VIDEO_FPS}`, '-t', String(VIDEO_SECONDS), ...codec, video]);
  });

  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('delivers duration x fps valid JPEG frames of the video size, then ends', async () => {
    const frames: CapturedFrame[] = [];
    for await (const f of ffmpegSource({ input: video, loop: false }).frames()) frames.push(f);
    expect(frames.length).toBeGreaterThanOrEqual(VIDEO_SECONDS * VIDEO_FPS - 2);
    expect(frames.length).toBeLessThanOrEqual(VIDEO_SECONDS * VIDEO_FPS + 1);
    for (const f of frames) {
      expect([f.width, f.height]).toEqual([320, 240]);
      expect(jpegSize(f.data)).toEqual({ width: 320, height: 240 });
    }
    const meta = await sharp(frames[frames.length - 1].data).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 320, 240]);
    // -re: the frames arrive over the video's duration, not in one burst.
    const spanUs = frames[frames.length - 1].captureTimeUs - frames[0].captureTimeUs;
    expect(spanUs).toBeGreaterThan((VIDEO_SECONDS - 0.7) * 1e6);
  });

  it('plays a file at its own rate: every frame once, capture times its timestamps apart, increasing across loops', async () => {
    // One and a half plays of the 2 s file: the loop is crossed.
    const frames = await take(ffmpegSource({ input: video, loop: true }), 3 * VIDEO_FPS);
    expect(repeatedContent(frames)).toEqual([]);
    const gaps = gapsUs(frames);
    // From the file's timestamps, so exactly whole frame intervals (a frame the test took too late
    // for was skipped: two intervals), whatever the machine's load did to the arrival times.
    for (const gap of gaps) {
      expect(gap).toBeGreaterThan(0);
      expect(gap % FRAME_INTERVAL_US).toBe(0);
    }
    expect(gaps.filter((g) => g === FRAME_INTERVAL_US).length).toBeGreaterThan(gaps.length / 2);
  });

  it('caps a file at maxFps by dropping: at most 5 of its 10 frames a second, never one twice', async () => {
    const frames = await take(ffmpegSource({ input: video, loop: false, maxFps: VIDEO_FPS / 2 }), Number.POSITIVE_INFINITY);
    expect(frames.length).toBeLessThanOrEqual((VIDEO_SECONDS * VIDEO_FPS) / 2);
    expect(repeatedContent(frames)).toEqual([]);
    for (const gap of gapsUs(frames)) expect(gap % (2 * FRAME_INTERVAL_US)).toBe(0);
  });

  it('keeps capture times increasing through timestamps that come 1 ms apart, repeat and go back', async () => {
    const plain = join(folder, 'plain.mkv');
    const hostile = join(folder, 'hostile-timestamps.mkv');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=160x120:rate=${VIDEO_FPS}`, '-frames:v', '12', '-c:v', 'mjpeg', plain]);
    // Frame N at N*100 ms, except: frames 2, 6, 10 1 ms after the one before, frame 5 at the time
    // of frame 4, frame 9 50 ms before frame 8: rewritten in the packets, as the mjpeg encoder
    // refuses to encode such timestamps.
    execFileSync('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-i', plain, '-c', 'copy',
      '-bsf:v', "setts=pts='if(eq(N,5),400,if(eq(N,9),750,N*100-if(eq(mod(N,4),2),99,0)))':dts='N*100-200'",
      hostile,
    ]);
    const frames = await take(ffmpegSource({ input: hostile, loop: false }), Number.POSITIVE_INFINITY);
    // Some frames 1 ms behind another are skipped (the newest replaces a frame not taken yet); the
    // source did not fail on the repeated and backward timestamps.
    expect(frames.length).toBeGreaterThan(6);
    for (const gap of gapsUs(frames)) expect(gap).toBeGreaterThan(0);
  });

  it('pairs each frame with its own timestamp whichever pipe ffmpeg is read from first', async () => {
    const jpeg = join(folder, 'frame.jpg');
    await writeFile(jpeg, await sharp({ create: { width: 16, height: 8, channels: 3, background: '#808080' } }).jpeg().toBuffer());
    const showinfo = (n: number, pts: number) => `[Parsed_showinfo_0 @ 0x1] [info] n:${n} pts:${pts} pts_time:${pts / 1000} fmt:yuvj420p`;
    // Frames 0-2 on stdout before their timestamps (0 and 1 are replaced by 2 while they wait);
    // frame 3's timestamp on stderr 200 ms before the frame.
    const script = await fakeFfmpeg(
      'out-of-step.sh',
      [
        "echo '[Parsed_showinfo_0 @ 0x1] [info] config in time_base: 1/1000, frame_rate: 10/1' >&2",
        `cat ${jpeg}`,
        `cat ${jpeg}`,
        `cat ${jpeg}`,
        'sleep 0.2',
        ...[0, 100, 200, 700].map((pts, n) => `echo '${showinfo(n, pts)}' >&2`),
        'sleep 0.2',
        `cat ${jpeg}`,
      ].join('\n'),
    );
    const frames = await take(ffmpegSource({ input: '/the/file.mp4', loop: false, ffmpegPath: script }), Number.POSITIVE_INFINITY);
    // Frame 2 (at its arrival) and frame 3, 500 ms after it on the file's timeline.
    expect(frames).toHaveLength(2);
    expect(frames[1].captureTimeUs - frames[0].captureTimeUs).toBe(500_000);
  });

  it('fails with the exit code and ffmpeg\'s last stderr lines when the input cannot be opened', async () => {
    const missing = join(folder, 'missing.mp4');
    const run = async () => {
      for await (const _ of ffmpegSource({ input: missing, loop: false }).frames()) void _;
    };
    const err = (await run().catch((e: unknown) => e)) as FfmpegError;
    expect(err).toBeInstanceOf(FfmpegError);
    expect(err.code).toBe('FFMPEG_EXITED');
    expect(err.message).toContain('exited with code');
    expect(err.stderrTail.join('\n')).toContain('No such file or directory');
  });

  it('keeps a camera URL\'s password out of its description, errors and logged lines, and passes it to ffmpeg', async () => {
    // Stands in for ffmpeg failing to open a camera: it prints its input, as ffmpeg does.
    const echo = await fakeFfmpeg('echo-input.sh', 'echo "$@" > "$(dirname "$0")/args.txt"; echo "rtsp://admin:hunter2@127.0.0.1:1/s: Connection refused" >&2; exit 1');
    const logged: unknown[] = [];
    const record = (message: Record<string, unknown>) => void logged.push(message);
    const input = 'rtsp://admin:hunter2@127.0.0.1:1/s';
    const source = ffmpegSource({ input, loop: false, ffmpegPath: echo, logger: { log: record, warn: record, error: record, debug: record } });
    const err = (await (async () => {
      for await (const _ of source.frames()) void _;
    })().catch((e: unknown) => e)) as FfmpegError;
    expect(err).toBeInstanceOf(FfmpegError);
    const shown = JSON.stringify({ description: source.description, message: err.message, input: err.input, stderr: err.stderrTail, logged });
    expect(shown).toContain('rtsp://admin:***@127.0.0.1:1/s');
    expect(shown).not.toContain('hunter2');
    expect(await readFile(join(folder, 'args.txt'), 'utf8')).toContain(input);
  });

  it('gives up with FFMPEG_START_TIMEOUT when no frame comes, and stops the child', async () => {
    const silent = await fakeFfmpeg('silent.sh', 'exec sleep 30');
    let child: ChildProcess | undefined;
    const source = ffmpegSource({ input: 'whatever', loop: false, ffmpegPath: silent, startTimeoutMs: 300, onSpawn: (c) => (child = c) });
    const iterator = source.frames()[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toMatchObject({ code: 'FFMPEG_START_TIMEOUT' });
    expect(child?.pid).toEqual(expect.any(Number)); // it was started
    expect(isProcessAlive(child!.pid!)).toBe(false);  
  });

  it('kills a child that ignores SIGTERM with SIGKILL after the bound', async () => {
    const stubborn = await fakeFfmpeg('stubborn.sh', "trap '' TERM\nexec sleep 30");
    const child = spawn(stubborn, [], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
    const started = performance.now();
    await stopChild(child, 200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(child.signalCode).toBe('SIGKILL');
  });

  it('stops ffmpeg when the consumer breaks and when the signal aborts', async () => {
    const children: ChildProcess[] = [];
    const source = ffmpegSource({ input: video, loop: true, onSpawn: (c) => children.push(c) });
    for await (const _ of source.frames()) break;
    const controller = new AbortController();
    const iterator = source.frames(controller.signal)[Symbol.asyncIterator]();
    await iterator.next();
    const pending = iterator.next().catch((e: unknown) => e);
    controller.abort(new Error('stop'));
    expect(await pending).toMatchObject({ message: 'stop' });
    expect(children).toHaveLength(2);
    for (const c of children) expect(isProcessAlive(c.pid!)).toBe(false);  
  });

  it('is restarted by the capture loop after ffmpeg is killed mid-stream, and leaves no process on abort', async () => {
    const children: ChildProcess[] = [];
    const source = ffmpegSource({ input: video, loop: true, onSpawn: (c) => children.push(c) });
    const stats = createCaptureStats();
    const controller = new AbortController();
    let framesAfterRestart = 0;
    const running = runCapture({
      source,
      stats,
      watchdogMs: 1_000,
      restartBackoff: { initialMs: 50 },
      signal: controller.signal,
      onFrame: () => {
        if (children.length > 1) framesAfterRestart++;
      },
    });
    await until(() => stats.framesCaptured >= 3, 5_000, 'first frames');
    const first = children[0];
    first.kill('SIGKILL');
    await until(() => framesAfterRestart >= 3, 5_000, 'frames from the restarted ffmpeg');
    expect(stats.sourceRestarts).toBe(1);
    expect(children).toHaveLength(2);
    controller.abort(new Error('stop'));
    expect(await running).toBe('aborted');
    for (const c of children) expect(isProcessAlive(c.pid!)).toBe(false);  
  });

  it('kills live ffmpeg children when the process exits', async () => {
    // A separate Node process runs the built library (dist/, rebuilt by Jest's global setup).
    const entry = resolve(__dirname, '../../../dist/libs/capture/src/index.js');
    const script = `
      const { ffmpegSource } = require(${JSON.stringify(entry)});
      const source = ffmpegSource({ input: ${JSON.stringify(video)}, loop: true, onSpawn: (c) => console.log(c.pid) });
      (async () => { for await (const _ of source.frames()) process.exit(0); })();
    `;
    const output = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    const pid = Number(output.trim());
    expect(pid).toBeGreaterThan(0);
    await until(() => !isProcessAlive(pid), 2_000, `ffmpeg ${pid} to die`);
  });
});
