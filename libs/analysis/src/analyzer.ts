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

/** What a worker runs on each frame: a name and `analyze`; the rest is optional. */
export interface Analyzer {
  /** Unique in a pipeline, e.g. "motion". */
  readonly name: string;
  /** Runs on one frame; state carried between frames lives in the analyzer. May be asynchronous (a
   *  model): the worker asks for its next frame only when the promise settles. A throw or a rejection
   *  skips this frame's results (counted by the worker), never stops the worker. */
  analyze(input: AnalyzerInput): AnalyzerOutputs | Promise<AnalyzerOutputs>;
  /** Runs on several frames at once, of distinct streams (a pool member's batch), returning one
   *  outputs per input in the same order. An analyzer with it is ONE instance for every stream
   *  (StreamPipelines shares it): keep any per-stream state keyed by `input.streamId`. */
  analyzeBatch?(inputs: readonly AnalyzerInput[]): readonly AnalyzerOutputs[] | Promise<readonly AnalyzerOutputs[]>;
  /** The current settings, as plain JSON values (absent: none). */
  settings?(): Record<string, unknown>;
  /** Changes some settings at run time (unnamed ones keep their values). Throws
   *  AnalyzerSettingsError, changing nothing, when any value is unacceptable. Absent: the analyzer
   *  takes no settings, and a command that sets one is refused. */
  configure?(changes: Record<string, unknown>): void;
  /** Forgets state carried between frames (e.g. after a gap or a source switch). */
  reset?(): void;
}

/** An analyzer threw or rejected on a frame: names the analyzer; the worker counts it and goes on. */
export class AnalyzerFailedError extends Error {
  readonly code = 'ANALYZER_FAILED';
  constructor(
    readonly analyzer: string,
    cause: unknown,
  ) {
    super(`analyzer "${analyzer}" failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'AnalyzerFailedError';
  }
}
