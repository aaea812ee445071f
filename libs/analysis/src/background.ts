// The motion analyzer's background model: per pixel and channel, the median of the last K frames
// sampled evenly over a history window (docs/analyzers.md explains the choice). A pixel reads as
// background as soon as it showed the background in more than half of the samples, so ghosts of
// objects present at start-up heal on their own, while an object that pauses for less than half
// the window never melts into the background.

/** Samples kept per pixel: odd, so the median is one of them once the ring is full. */
export const BACKGROUND_SAMPLES = 9;
/** The model is recomputed in this many horizontal bands, spread over the frames between samples. */
const REFRESH_BANDS = 8;

export class MedianBackground {
  /** The current background, packed RGB like the frames. */
  readonly model: Uint8Array;
  private readonly ring: Uint8Array;
  private readonly values = new Uint8Array(BACKGROUND_SAMPLES);
  private readonly bytes: number;
  private samples = 0;
  private nextSlot = 0;
  private lastSampleUs = 0;
  private framesSinceSample = 0;
  private bandsPerFrame = REFRESH_BANDS;
  private pendingBands = 0;
  private nextBand = 0;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.bytes = width * height * 3;
    this.model = new Uint8Array(this.bytes);
    this.ring = new Uint8Array(this.bytes * BACKGROUND_SAMPLES);
  }

  get sampleCount(): number {
    return this.samples;
  }

  reset(): void {
    this.samples = 0;
    this.nextSlot = 0;
    this.pendingBands = 0;
    this.framesSinceSample = 0;
  }

  /**
   * Feeds one frame (packed RGB). It becomes a sample when `intervalUs` has passed since the last
   * one (the first frame always does, and is the model until the next samples arrive); part of the
   * median is then refreshed on this and the following frames.
   */
  update(rgb: Uint8Array, timeUs: number, intervalUs: number): void {
    this.framesSinceSample++;
    if (this.samples === 0) {
      this.ring.set(rgb.subarray(0, this.bytes), 0);
      this.model.set(rgb.subarray(0, this.bytes));
      this.samples = 1;
      this.nextSlot = 1;
      this.lastSampleUs = timeUs;
      this.framesSinceSample = 0;
      return;
    }
    if (timeUs - this.lastSampleUs >= intervalUs) {
      this.ring.set(rgb.subarray(0, this.bytes), this.nextSlot * this.bytes);
      this.nextSlot = (this.nextSlot + 1) % BACKGROUND_SAMPLES;
      if (this.samples < BACKGROUND_SAMPLES) this.samples++;
      this.lastSampleUs = timeUs;
      // Finish the refresh before the next sample is due, at the frame rate seen so far.
      this.bandsPerFrame = Math.ceil(REFRESH_BANDS / Math.max(1, this.framesSinceSample));
      this.framesSinceSample = 0;
      // Only an odd count has a median that is one of the samples; the mean of two middles would
      // paint a half-bright copy of every object into the model. Even counts keep the last model.
      if (this.samples % 2 === 1) this.pendingBands = REFRESH_BANDS;
    }
    for (let k = 0; k < this.bandsPerFrame && this.pendingBands > 0; k++) {
      this.refreshBand(this.nextBand);
      this.nextBand = (this.nextBand + 1) % REFRESH_BANDS;
      this.pendingBands--;
    }
  }

  /**
   * Makes pixel `index` (y * width + x) background with this frame's colour, in the model and in
   * every sample: how a ghost (the mark of an object that was in the background samples and has
   * left) is healed at once instead of waiting for the median to forget it.
   */
  adoptPixel(rgb: Uint8Array, index: number): void {
    const i = index * 3;
    const r = rgb[i];
    const g = rgb[i + 1];
    const b = rgb[i + 2];
    this.model[i] = r;
    this.model[i + 1] = g;
    this.model[i + 2] = b;
    for (let s = 0, o = i; s < BACKGROUND_SAMPLES; s++, o += this.bytes) {
      this.ring[o] = r;
      this.ring[o + 1] = g;
      this.ring[o + 2] = b;
    }
  }

  private refreshBand(band: number): void {
    const rowBytes = this.width * 3;
    const from = Math.floor((band * this.height) / REFRESH_BANDS) * rowBytes;
    const to = Math.floor(((band + 1) * this.height) / REFRESH_BANDS) * rowBytes;
    const { ring, model, values, bytes } = this;
    const n = this.samples;
    const mid = n >> 1;
    for (let i = from; i < to; i++) {
      // Insertion sort of n <= 9 bytes: fewer operations than a general sort at this size.
      for (let s = 0; s < n; s++) {
        const v = ring[s * bytes + i];
        let j = s;
        while (j > 0 && values[j - 1] > v) {
          values[j] = values[j - 1];
          j--;
        }
        values[j] = v;
      }
      model[i] = values[mid];
    }
  }
}
