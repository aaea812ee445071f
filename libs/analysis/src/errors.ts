// Typed errors of the analysis library: what a worker acts on when a frame cannot be analysed or a
// pipeline is misconfigured. Each names the thing and the value.
import { PixelFormat, pixelFormatToJSON } from '@framewire/proto';

/** A frame arrived in a pixel format the decoder does not handle; the worker counts and skips it. */
export class UnsupportedPixelFormatError extends Error {
  readonly code = 'UNSUPPORTED_PIXEL_FORMAT';
  constructor(readonly pixelFormat: PixelFormat) {
    super(`pixel format ${formatName(pixelFormat)} (${pixelFormat}) is not supported (supported: PIXEL_FORMAT_JPEG, PIXEL_FORMAT_PNG, PIXEL_FORMAT_RGB24, PIXEL_FORMAT_BGR24, PIXEL_FORMAT_RGBA32, PIXEL_FORMAT_GRAY8)`);
    this.name = 'UnsupportedPixelFormatError';
  }
}

/** The frame bytes could not be decoded (corrupt or truncated JPEG, wrong raw size, ...). */
export class FrameDecodeError extends Error {
  readonly code = 'FRAME_DECODE_FAILED';
  constructor(
    readonly decoder: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${decoder}: ${message}`, options);
    this.name = 'FrameDecodeError';
  }
}

/** An analyzer name that no built-in (or pipeline member) answers to. */
export class UnknownAnalyzerError extends Error {
  readonly code = 'ANALYZER_UNKNOWN';
  constructor(
    readonly analyzer: string,
    readonly known: readonly string[],
  ) {
    super(`unknown analyzer "${analyzer}" (known: ${known.join(', ')})`);
    this.name = 'UnknownAnalyzerError';
  }
}

function formatName(format: PixelFormat): string {
  try {
    return pixelFormatToJSON(format);
  } catch {
    return 'UNRECOGNIZED';
  }
}
