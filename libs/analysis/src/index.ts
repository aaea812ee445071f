// Public entry point of @framewire/analysis: the analyzer interface, the built-in analyzers
// (motion, tracks, keypoints), the pipeline that runs them, and frame decoding for analysis.
export { AnalyzerSettingsError, type AnalyzerOutputs } from './analyzer';
export { FrameDecodeError, UnsupportedPixelFormatError } from './errors';
export { DEFAULT_JPEG_DECODER, JPEG_DECODERS, decodeFrame, decodePixels, type DecodedFrame, type JpegDecoderName } from './decode';
export { AnalysisPipeline, BUILT_IN_ANALYZERS, createAnalyzers } from './pipeline';
