// Capture times of a file's frames from their presentation timestamps: the first frame is stamped
// with the wall-clock time it arrived, each later one with that start plus its timestamp, so the
// gaps between capture times are the file's own (never the jitter of a pipe or a loaded machine).
// A discontinuity (a timestamp that repeats, goes back, is missing or has drifted far from real
// time) starts the timeline again at the frame's arrival; capture times only ever increase.

/** Capture times stay within this of the arrival times; a frame further off re-anchors the timeline. */
export const MAX_PRESENTATION_DRIFT_US = 1_000_000;
/** The least step between two capture times: they strictly increase. */
const MIN_CAPTURE_STEP_US = 1;

export class PresentationClock {
  /** Capture time = anchor + presentation timestamp; undefined until a frame with a timestamp. */
  private anchorUs: number | undefined;
  private lastUs = Number.NEGATIVE_INFINITY;
  /** Times the timeline was started again after the first frame. */
  reanchors = 0;

  /**
   * The capture time of a frame with presentation timestamp `ptsUs` (µs on the file's timeline;
   * undefined when the file has none) that arrived at `arrivalUs` (µs since the Unix epoch).
   */
  stamp(ptsUs: number | undefined, arrivalUs: number): number {
    const floor = this.lastUs + MIN_CAPTURE_STEP_US;
    const onTimeline = ptsUs === undefined || this.anchorUs === undefined ? Number.NaN : this.anchorUs + ptsUs;
    let captureUs = onTimeline;
    // NaN fails both comparisons, so a missing timestamp or anchor takes this branch too.
    if (!(onTimeline >= floor && Math.abs(onTimeline - arrivalUs) <= MAX_PRESENTATION_DRIFT_US)) {
      if (this.anchorUs !== undefined) this.reanchors++;
      captureUs = Math.max(arrivalUs, floor);
      this.anchorUs = ptsUs === undefined ? undefined : captureUs - ptsUs;
    }
    this.lastUs = captureUs;
    return captureUs;
  }
}
