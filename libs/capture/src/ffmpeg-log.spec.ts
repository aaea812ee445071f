// ffmpeg's stderr at `-loglevel level+info`, on lines copied from ffmpeg 5.1: levels, and the
// frames' timestamps from showinfo in its time base.
import { parseFfmpegLogLine, ShowinfoTimestamps } from './ffmpeg-log';

describe('parseFfmpegLogLine', () => {
  it('tells problems (error, fatal, panic) from the rest and strips the level tag', () => {
    expect(parseFfmpegLogLine('[error] /v.mp4: No such file or directory')).toEqual({ problem: true, text: '/v.mp4: No such file or directory' });
    expect(parseFfmpegLogLine('[mjpeg @ 0x55afd66b5d40] [error] Invalid pts (400) <= last (400)')).toEqual({
      problem: true,
      text: '[mjpeg @ 0x55afd66b5d40] Invalid pts (400) <= last (400)',
    });
    expect(parseFfmpegLogLine('[fatal] Error opening input files').problem).toBe(true);
    expect(parseFfmpegLogLine('[swscaler @ 0x5] [warning] deprecated pixel format used').problem).toBe(false);
    expect(parseFfmpegLogLine("[info] Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'v.mp4':").problem).toBe(false);
    expect(parseFfmpegLogLine('    Metadata:')).toEqual({ problem: false, text: '    Metadata:' });
  });
});

describe('ShowinfoTimestamps', () => {
  const tb = '[Parsed_showinfo_1 @ 0x55e18e73aa00] [info] config in time_base: 1/10240, frame_rate: 10/1';
  const frame = (n: number, pts: string) =>
    `[Parsed_showinfo_1 @ 0x55e18e73aa00] [info] n:${String(n).padStart(4)} pts:${pts.padStart(7)} pts_time:0.1     pos:     4879 fmt:yuv420p sar:1/1 s:160x120 i:P iskey:0 type:B `;

  it('gives each frame its timestamp in microseconds, in the time base showinfo was configured with', () => {
    const timestamps = new ShowinfoTimestamps();
    expect(timestamps.read(tb)).toBeUndefined();
    expect(timestamps.read(frame(0, '0'))).toEqual({ ptsUs: 0 });
    expect(timestamps.read(frame(1, '1024'))).toEqual({ ptsUs: 100_000 });
    expect(timestamps.read(frame(2, '-512'))).toEqual({ ptsUs: -50_000 });
    // A graph configured again (a new resolution) brings its own time base.
    timestamps.read('[Parsed_showinfo_1 @ 0x1] [info] config in time_base: 1001/30000, frame_rate: 30000/1001');
    expect(timestamps.read(frame(3, '3'))).toEqual({ ptsUs: 100_100 });
  });

  it('reports a frame without a timestamp (NOPTS, or before any time base) as such', () => {
    const timestamps = new ShowinfoTimestamps();
    expect(timestamps.read(frame(0, '100'))).toEqual({ ptsUs: undefined });
    timestamps.read(tb);
    expect(timestamps.read(frame(1, 'NOPTS'))).toEqual({ ptsUs: undefined });
  });

  it('ignores every other line, including showinfo\'s side-data lines and other filters\' output', () => {
    const timestamps = new ShowinfoTimestamps();
    timestamps.read(tb);
    for (const line of [
      '[Parsed_showinfo_1 @ 0x55e18e73aa00] [info]   side data - User Data Unregistered:',
      '[Parsed_showinfo_1 @ 0x55e18e73aa00] [info] color_range:unknown color_space:unknown',
      '[Parsed_showinfo_1 @ 0x55e18e73aa00] [info] config out time_base: 0/0, frame_rate: 0/0',
      '[info] n:   3 pts:   3072 pts_time:0.3',
      '[error] n: 1 pts: 5 ',
    ]) {
      expect(timestamps.read(line)).toBeUndefined();
    }
  });
});
