// Real video for tests and benchmarks: Debian's opencv-doc ships vtest.avi (pedestrians seen from
// above a car park, 768x576, 10 fps, 795 frames, 79.5 s), footage no one here made. Parts of it and
// re-timed copies are cut by ffmpeg into a folder of the caller's.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const VTEST_VIDEO = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
export const VTEST_WIDTH = 768;
export const VTEST_HEIGHT = 576;
export const VTEST_FPS = 10;
/** Cutting and re-encoding a part takes well under this. */
const CUT_TIMEOUT_MS = 60_000;
/** ffmpeg's MJPEG quality scale (2 = best): the copy must not be worse than the source. */
const COPY_QUALITY = 2;

/** Why vtest.avi cannot be used here, or undefined when it can. */
export function vtestMissingReason(): string | undefined {
  return existsSync(VTEST_VIDEO) ? undefined : `${VTEST_VIDEO} is absent (Debian package opencv-doc: apt-get install -y opencv-doc)`;
}

export interface VideoCut {
  /** Source seconds to keep, from the start. */
  seconds: number;
  /** Play the kept frames at this rate instead of the source's (every frame kept, time scaled). */
  fps?: number;
}

/** Writes the first `cut.seconds` of `source` into `dir` (MJPEG in AVI, every frame kept), re-timed
 *  to `cut.fps` when given, and returns the new file's path. */
export function cutVideo(source: string, dir: string, cut: VideoCut): string {
  const name = `part-${cut.seconds}s${cut.fps === undefined ? '' : `-${cut.fps}fps`}.avi`;
  const out = join(dir, name);
  // Frame n at n / fps, in a time base of 1 / fps (scaling the source's timestamps in its own
  // coarser time base would round some onto one another, and ffmpeg would drop those frames).
  const retime = cut.fps === undefined ? [] : ['-vf', `settb=1/${cut.fps},setpts=N`, '-r', String(cut.fps)];
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-t', String(cut.seconds), '-i', source, '-an', ...retime, '-c:v', 'mjpeg', '-q:v', String(COPY_QUALITY), out], { stdio: 'pipe', timeout: CUT_TIMEOUT_MS });
  return out;
}
