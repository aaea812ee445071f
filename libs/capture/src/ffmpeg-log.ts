// Reading ffmpeg's stderr as `-loglevel level+<level>` writes it: the level of each line, and the
// presentation timestamp that the showinfo filter prints for each frame it passes on.

/** The levels whose lines are problems: logged, and kept for the error of a failed exit. */
const PROBLEM_LEVELS = new Set(['panic', 'fatal', 'error']);
/** `[info] ` after the optional `[context @ 0x...] ` prefix. */
const LEVEL_TAG = /\[(panic|fatal|error|warning|info|verbose|debug|trace)\] /;
/** showinfo, once per filter graph configuration: `config in time_base: 1/10240, frame_rate: 10/1`. */
const SHOWINFO_TIME_BASE = /\[Parsed_showinfo_\d+ @ [^\]]*\] \[info\] config in time_base: (\d+)\/(\d+)/;
/** showinfo, once per frame: `n:   3 pts:   3072 pts_time:0.3 ...` (`NOPTS` when it has none). */
const SHOWINFO_FRAME = /\[Parsed_showinfo_\d+ @ [^\]]*\] \[info\] n:\s*\d+ pts:\s*(-?\d+|NOPTS) /;
const MICROS_PER_SECOND = 1e6;

export interface FfmpegLogLine {
  /** Whether the line reports a problem (level error, fatal or panic). */
  problem: boolean;
  /** The line without its level tag. */
  text: string;
}

/** One stderr line: its text without the level tag, and whether it is a problem. A line without a
 *  tag (ffmpeg continues a message over several lines) is not a problem. */
export function parseFfmpegLogLine(line: string): FfmpegLogLine {
  const m = LEVEL_TAG.exec(line);
  if (m === null) return { problem: false, text: line };
  return { problem: PROBLEM_LEVELS.has(m[1]), text: line.slice(0, m.index) + line.slice(m.index + m[0].length) };
}

/** The frames' presentation timestamps, from the lines of the showinfo filter (with its time base). */
export class ShowinfoTimestamps {
  private timeBase: { num: number; den: number } | undefined;

  /**
   * undefined when `line` is not showinfo's line for a frame; otherwise that frame's presentation
   * timestamp in whole microseconds, or `{ ptsUs: undefined }` when the frame has none.
   */
  read(line: string): { ptsUs: number | undefined } | undefined {
    const frame = SHOWINFO_FRAME.exec(line);
    if (frame === null) {
      const tb = SHOWINFO_TIME_BASE.exec(line);
      if (tb !== null && Number(tb[2]) > 0) this.timeBase = { num: Number(tb[1]), den: Number(tb[2]) };
      return undefined;
    }
    if (frame[1] === 'NOPTS' || this.timeBase === undefined) return { ptsUs: undefined };
    const ptsUs = Math.round((Number(frame[1]) * this.timeBase.num * MICROS_PER_SECOND) / this.timeBase.den);
    return { ptsUs: Number.isFinite(ptsUs) ? ptsUs : undefined };
  }
}
