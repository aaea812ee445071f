// Typed capture errors: one class per failure a caller acts on, each with a code and a message that
// names the file, process or value involved.

/** `text` with the password of every URL in it replaced by `***`: camera URLs carry credentials
 *  (`rtsp://user:password@camera/stream`), and a source's URL goes into descriptions, errors, logs
 *  and the lines ffmpeg writes. */
export function withoutUrlPasswords(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s/@]*@/gi, '$1:***@');
}

export type CaptureErrorCode =
  | 'SOURCE_SPEC_INVALID'
  | 'IMAGE_FOLDER_EMPTY'
  | 'IMAGE_FOLDER_UNREADABLE'
  | 'IMAGE_UNREADABLE'
  | 'JPEG_INVALID'
  | 'MJPEG_FRAME_TOO_LARGE'
  | 'FFMPEG_SPAWN_FAILED'
  | 'FFMPEG_START_TIMEOUT'
  | 'FFMPEG_EXITED'
  | 'FFMPEG_TIMESTAMPS_OUT_OF_STEP'
  | 'SOURCE_SWITCH_FAILED';

export class CaptureError extends Error {
  constructor(
    readonly code: CaptureErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A source string that is not `synthetic`, `images:<folder>` or `ffmpeg:<url-or-path>`. */
export class SourceSpecError extends CaptureError {
  constructor(spec: string) {
    super('SOURCE_SPEC_INVALID', `capture source ${JSON.stringify(withoutUrlPasswords(spec))} is not "synthetic", "images:<folder>" or "ffmpeg:<url-or-path>"`);
  }
}

/** The image folder cannot be listed, holds no JPEG/PNG file, or one of its files cannot be read. */
export class ImageFolderError extends CaptureError {
  constructor(
    code: 'IMAGE_FOLDER_EMPTY' | 'IMAGE_FOLDER_UNREADABLE' | 'IMAGE_UNREADABLE',
    message: string,
    /** The folder, or the file when code is IMAGE_UNREADABLE. */
    readonly path: string,
  ) {
    super(code, message);
  }
}

/** Bytes that are not a JPEG whose size can be read (no SOI, or no SOF before the scan). */
export class InvalidJpegError extends CaptureError {
  constructor(reason: string) {
    super('JPEG_INVALID', `invalid JPEG: ${reason}`);
  }
}

/** A frame in an MJPEG stream grew past the limit without an end marker. */
export class MjpegFrameTooLargeError extends CaptureError {
  constructor(
    readonly bytes: number,
    readonly maxFrameBytes: number,
  ) {
    super('MJPEG_FRAME_TOO_LARGE', `MJPEG frame of at least ${bytes} bytes exceeds the ${maxFrameBytes}-byte limit`);
  }
}

/** ffmpeg could not be started, gave no frame in time, exited with a failure, or reported frame
 *  timestamps that its frames did not follow. */
export class FfmpegError extends CaptureError {
  constructor(
    code: 'FFMPEG_SPAWN_FAILED' | 'FFMPEG_START_TIMEOUT' | 'FFMPEG_EXITED' | 'FFMPEG_TIMESTAMPS_OUT_OF_STEP',
    message: string,
    /** The input, its URL's password replaced (withoutUrlPasswords). */
    readonly input: string,
    /** The last lines ffmpeg wrote to stderr. */
    readonly stderrTail: readonly string[] = [],
  ) {
    super(code, stderrTail.length > 0 ? `${message}; ffmpeg said: ${stderrTail.join(' | ')}` : message);
  }
}

/** A source that capture was asked to switch to failed, ended or stayed silent; the old one runs on. */
export class SourceSwitchError extends CaptureError {
  constructor(
    readonly source: string,
    readonly reason: string,
  ) {
    super('SOURCE_SWITCH_FAILED', `cannot switch to ${source}: ${reason}`);
  }
}
