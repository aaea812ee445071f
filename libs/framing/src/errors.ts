// Typed framing errors: every failure names its kind (code) and the stream offset where it happened.

export type FramingErrorCode =
  | 'VARINT_TOO_LONG'
  | 'FRAME_TOO_LARGE'
  | 'TRUNCATED_FRAME'
  | 'EMPTY_FRAME'
  | 'UNEXPECTED_TEXT_MESSAGE'
  | 'SINK_CLOSED';

/** Base class of every framing failure. `offset` is the byte offset in the stream (or, for
 *  WebSocket, the index of the message) where the failing frame starts. */
export class FramingError extends Error {
  constructor(
    readonly code: FramingErrorCode,
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class VarintTooLongError extends FramingError {
  constructor(offset: number) {
    super('VARINT_TOO_LONG', `varint too long: length prefix exceeds 5 bytes at offset ${offset}`, offset);
  }
}

/** A length above the reader's limit. `length` is -1 when it is unknown: a WebSocket library
 *  refuses an over-limit message before telling its exact size. */
export class FrameTooLargeError extends FramingError {
  constructor(
    readonly length: number,
    readonly maxFrameBytes: number,
    offset: number,
  ) {
    super(
      'FRAME_TOO_LARGE',
      length < 0
        ? `frame length exceeds the ${maxFrameBytes}-byte limit at offset ${offset}`
        : `frame length ${length} exceeds the ${maxFrameBytes}-byte limit at offset ${offset}`,
      offset,
    );
  }
}

/** End of input inside a length prefix or a payload. `expected` is the number of bytes the frame
 *  needed from `offset` (unknown while still in the prefix: -1), `available` what was there. */
export class TruncatedFrameError extends FramingError {
  constructor(
    offset: number,
    readonly expected: number,
    readonly available: number,
  ) {
    super(
      'TRUNCATED_FRAME',
      expected < 0
        ? `truncated frame: input ends inside a length prefix at offset ${offset}`
        : `truncated frame: input ends after ${available} of ${expected} bytes of the frame at offset ${offset}`,
      offset,
    );
  }
}

/** A zero-length frame: never written (RW readers treat it as end of stream). */
export class EmptyFrameError extends FramingError {
  constructor(offset: number) {
    super('EMPTY_FRAME', `empty frame at offset ${offset}: zero-length frames are not allowed`, offset);
  }
}

export class UnexpectedTextMessageError extends FramingError {
  constructor(messageIndex: number) {
    super(
      'UNEXPECTED_TEXT_MESSAGE',
      `WebSocket text message at message ${messageIndex}: frames travel as binary messages only`,
      messageIndex,
    );
  }
}

export class SinkClosedError extends FramingError {
  constructor(offset: number) {
    super('SINK_CLOSED', `write after close at offset ${offset}`, offset);
  }
}
