// cutVideo on vtest.avi: the first seconds, every frame kept, re-timed when asked (ffprobe counts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeIfInstalled } from './installed-tools';
import { cutVideo, VTEST_VIDEO, vtestMissingReason } from './real-video';

/** Frames, rate and duration of a video's first stream, as ffprobe decodes it. */
function probe(video: string): { frames: number; rate: string; seconds: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,r_frame_rate,duration', '-of', 'json', video], { encoding: 'utf8' });
  const stream = JSON.parse(out).streams[0];
  return { frames: Number(stream.nb_read_frames), rate: stream.r_frame_rate, seconds: Number(stream.duration) };
}

const missing = vtestMissingReason();
if (missing !== undefined) process.stderr.write(`skipped: cutVideo tests: ${missing}\n`);
const describeWithVideo = missing === undefined ? describeIfInstalled('ffmpeg', 'apt-get install -y ffmpeg') : describe.skip;

describeWithVideo('cutVideo', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'fw-cut-video-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the first seconds at the source rate', () => {
    expect(probe(cutVideo(VTEST_VIDEO, dir, { seconds: 3 }))).toEqual({ frames: 30, rate: '10/1', seconds: 3 });
  });

  it('re-times the same frames to a faster rate without dropping any', () => {
    expect(probe(cutVideo(VTEST_VIDEO, dir, { seconds: 3, fps: 25 }))).toEqual({ frames: 30, rate: '25/1', seconds: 1.2 });
  });
});
