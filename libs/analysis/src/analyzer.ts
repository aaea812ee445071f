// The analyzer interface: what a worker runs on each frame. Built-in analyzers (motion, tracks,
// keypoints) implement it; users write their own in TypeScript against it, or in any language over
// the proto (docs/analyzers.md).
import { Detections, KeyPoints, Segmentation, Tracks } from '@framewire/proto';

/** Decoded pixels: packed RGB, `width * height * 3` bytes, row-major, no padding. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** What an analyzer produces for one frame; each present field becomes one framewire.v1.Result. */
export interface AnalyzerOutputs {
  segmentation?: Segmentation;
  detections?: Detections;
  tracks?: Tracks;
  keypoints?: KeyPoints;
  /** A stage (vector overlay) message, formats.md §4. */
  stage?: Uint8Array;
}

export interface AnalyzerInput {
  streamId: string;
  frameSequence: number;
  /** Microseconds since the Unix epoch. */
  captureTimeUs: number;
  /** Size of the frame as captured; every coordinate an analyzer outputs is in these pixels. */
  frameWidth: number;
  frameHeight: number;
  /** The frame as analysed: possibly downscaled (see `scale`). */
  image: RgbImage;
  /** Frame pixels per image pixel (>= 1): multiply image coordinates by it. */
  scale: number;
  /** Outputs of the analyzers that ran before this one on the same frame (pipeline order). */
  earlier: Readonly<AnalyzerOutputs>;
}

/** A setting an analyzer refused: names the setting and what it accepts. */
export class AnalyzerSettingsError extends Error {
  readonly code = 'ANALYZER_SETTINGS_INVALID';
  constructor(
    readonly analyzer: string,
    readonly setting: string,
    message: string,
  ) {
    super(`${analyzer}.${setting}: ${message}`);
    this.name = 'AnalyzerSettingsError';
  }
}

export interface Analyzer {
  /** Unique in a pipeline, e.g. "motion". */
  readonly name: string;
  /** Runs on one frame, synchronously; state carried between frames lives in the analyzer. */
  analyze(input: AnalyzerInput): AnalyzerOutputs;
  /** The current settings, as plain JSON values. */
  settings(): Record<string, unknown>;
  /** Changes some settings at run time (unnamed ones keep their values). Throws
   *  AnalyzerSettingsError, changing nothing, when any value is unacceptable. */
  configure(changes: Record<string, unknown>): void;
  /** Forgets state carried between frames (e.g. after a gap or a source switch). */
  reset(): void;
}
