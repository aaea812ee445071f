// Public entry point of @framewire/analysis: the analyzer interface, the built-in analyzers
// (motion, tracks, keypoints), the pipeline that runs them, and frame decoding for analysis.
export { AnalyzerFailedError, AnalyzerSettingsError, type Analyzer, type AnalyzerInput, type AnalyzerOutputs, type RgbImage } from './analyzer';
export { FrameDecodeError, UnknownAnalyzerError, UnsupportedPixelFormatError } from './errors';
export { DEFAULT_JPEG_DECODER, JPEG_DECODERS, decodeFrame, decodePixels, type DecodedFrame, type JpegDecoderName } from './decode';
export { MotionAnalyzer } from './motion';
export { MAX_PREDICTION_US, MAX_SPEED_DIAGONALS_PER_SECOND, MIN_VELOCITY_BASELINE_US, TrackAnalyzer, iou } from './tracker';
export { KeypointsAnalyzer } from './keypoints';
export { applySettings, defaultSettings, type NumericSetting, type SettingsSpec } from './settings';
export { summarizeTracks, type TrackedFrame, type TrackQuality } from './track-quality';
export { AnalysisPipeline, BUILT_IN_ANALYZERS, createAnalyzers, type PipelineInput } from './pipeline';
export { DEFAULT_MAX_STREAM_STATES, DEFAULT_STREAM_IDLE_MS, StreamPipelines, type StreamPipelinesOptions, type StreamPipelinesStats } from './stream-pipelines';
// Building blocks for analyzers outside this lib (the model analyzers of @framewire/models).
export { ComponentLabeler } from './components';
export { PointBuffer, traceOuterContour } from './contour';
export { PolygonSimplifier } from './simplify';
