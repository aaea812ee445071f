// Which frames of a camera have no result in the archive, told apart by whether they fall in a
// window where losing them is expected (a worker or the supplier being killed and replaced):
// the swarm suite's check that nothing is lost beyond the kill windows.
import { Result } from '@framewire/proto';

/** A span of capture time (µs since the Unix epoch) in which frames may be lost. */
export interface LossWindow {
  name: string;
  fromUs: number;
  toUs: number;
}

export interface FrameGaps {
  /** Frames with no result whose capture time lies outside every window. */
  outside: number[];
  /** Frames with no result in a window, per window name. */
  inside: Record<string, number>;
  /** Frames analysed (one result kind each) by more than one worker: `sequence: worker ids`. */
  analysedTwice: string[];
}

/**
 * `results`: one result kind of one stream (one result per analysed frame). The frames between the
 * lowest and the highest sequence that have no result are the gaps; a gap's capture times are
 * those of the results either side of it (the frames between were captured in that span), and it
 * is inside a window that overlaps that span.
 */
export function frameGaps(results: readonly Result[], windows: readonly LossWindow[]): FrameGaps {
  const bySequence = new Map<number, { captureTimeUs: number; workers: Set<string> }>();
  for (const r of results) {
    const seen = bySequence.get(r.frameSequence) ?? { captureTimeUs: r.captureTimeUs, workers: new Set<string>() };
    seen.workers.add(r.workerId);
    bySequence.set(r.frameSequence, seen);
  }
  const sequences = [...bySequence.keys()].sort((a, b) => a - b);
  const gaps: FrameGaps = { outside: [], inside: Object.fromEntries(windows.map((w) => [w.name, 0])), analysedTwice: [] };
  for (const [sequence, { workers }] of bySequence) {
    if (workers.size > 1) gaps.analysedTwice.push(`${sequence}: ${[...workers].sort().join(', ')}`);
  }
  for (let i = 1; i < sequences.length; i++) {
    const [before, after] = [sequences[i - 1], sequences[i]];
    if (after === before + 1) continue;
    const [fromUs, toUs] = [bySequence.get(before)!.captureTimeUs, bySequence.get(after)!.captureTimeUs];
    const window = windows.find((w) => w.fromUs < toUs && w.toUs > fromUs);
    for (let missing = before + 1; missing < after; missing++) {
      if (window) gaps.inside[window.name]++;
      else gaps.outside.push(missing);
    }
  }
  return gaps;
}
