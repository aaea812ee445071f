// Replay of the archive: the form's range (datetime-local values in the page's time zone) turned
// into the /ws/replay query, the default range (the last DEFAULT_REPLAY_SPAN_S recorded), and a
// replay's progress as its messages arrive (counts, finished or failed) as the status line shows it.
import type { ViewerMessage } from '@framewire/proto/browser';

/** A replay's default range: the last this many seconds of what was recorded. */
export const DEFAULT_REPLAY_SPAN_S = 30;
const US_PER_S = 1e6;
const MS_PER_MINUTE = 60_000;
/** A datetime-local value to the second: `2026-12-04T10:20:30`. */
const LOCAL_INPUT_LENGTH = 19;

/** A stream /api/replay/streams lists. */
export interface RecordedStream {
  streamId: string;
  fromTimeUs: number;
  toTimeUs: number;
  frames: boolean;
}

/** `us` (µs since the epoch) as a datetime-local value, in a zone `timezoneOffsetMin` behind UTC. */
export function toLocalInput(us: number, timezoneOffsetMin = new Date().getTimezoneOffset()): string {
  return new Date(us / 1000 - timezoneOffsetMin * MS_PER_MINUTE).toISOString().slice(0, LOCAL_INPUT_LENGTH);
}

/** A datetime-local value as µs since the epoch; undefined when empty or not a time. */
export function fromLocalInput(value: string): number | undefined {
  if (value === '') return undefined;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? Math.round(ms * 1000) : undefined;
}

/** The range a replay of `stream` starts with (datetime-local values). */
export function defaultReplayRange(stream: RecordedStream, timezoneOffsetMin?: number): { from: string; to: string } {
  return {
    from: toLocalInput(Math.max(stream.fromTimeUs, stream.toTimeUs - DEFAULT_REPLAY_SPAN_S * US_PER_S), timezoneOffsetMin),
    to: toLocalInput(stream.toTimeUs + US_PER_S, timezoneOffsetMin),
  };
}

/** The stream to select among `streams`: the one chosen before, else the first; undefined for none. */
export const pickRecordedStream = (streams: readonly RecordedStream[], chosen: string): RecordedStream | undefined => streams.find((s) => s.streamId === chosen) ?? streams[0];

/** The /ws/replay path for the form's values. */
export function replayPath(form: { streamId: string; pace: string; video: boolean; from: string; to: string }): string {
  const query = new URLSearchParams({ stream: form.streamId, pace: form.pace, video: form.video ? 'on' : 'off' });
  const from = fromLocalInput(form.from);
  const to = fromLocalInput(form.to);
  if (from !== undefined) query.set('from', String(from));
  if (to !== undefined) query.set('to', String(to));
  return `/ws/replay?${query}`;
}

/** One replay as the status line shows it (`data-state`, `data-results`, `data-frames`, its text). */
export class ReplayProgress {
  state: 'playing' | 'finished' | 'failed' = 'playing';
  ok: boolean | undefined = undefined;
  text = 'replaying…';
  results = 0;
  frames = 0;
  /** Whether the replay carries recorded video (else each result gets an empty picture of its frame). */
  framesSeen = false;

  /** Counts `m`; answers what the page does with it. */
  receive(m: ViewerMessage): 'frame' | 'result' | 'end' | 'none' {
    let kind: 'frame' | 'result' | 'end' | 'none' = 'none';
    if (m.frame !== undefined) {
      this.framesSeen = true;
      this.frames++;
      kind = 'frame';
    } else if (m.result !== undefined) {
      this.results++;
      kind = 'result';
    } else if (m.replayEnd !== undefined) {
      const error = m.replayEnd.error;
      this.state = error ? 'failed' : 'finished';
      this.ok = !error;
      this.text = error ? `replay failed: ${error}` : `finished: ${m.replayEnd.resultsSent} results, ${m.replayEnd.framesSent} frames`;
      kind = 'end';
    }
    if (this.state === 'playing') this.text = `replaying: ${this.results} results, ${this.frames} frames`;
    return kind;
  }

  /** The socket failed (the gateway refused the replay, or it broke) while playing. */
  socketFailed(): void {
    if (this.state !== 'playing') return;
    this.state = 'failed';
    this.ok = false;
    this.text = 'replay refused (see the gateway log or the range)';
  }
}
