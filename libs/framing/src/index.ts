// Public entry point of @framewire/framing: length-prefixed frames over files, streams, sockets
// and WebSocket (formats.md §1).
//
// Every value is re-exported by name, never with `export *`: the compiled `export *` reads each
// export through one shared getter whose megamorphic lookup stops V8 from inlining hot functions
// such as encodeFrameInto at the caller (the benchmark measured encoding at two thirds of its speed).
export {
  FramingError,
  VarintTooLongError,
  FrameTooLargeError,
  TruncatedFrameError,
  EmptyFrameError,
  UnexpectedTextMessageError,
  SinkClosedError,
} from './errors';
export type { FramingErrorCode } from './errors';
export {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_CLOSE_TIMEOUT_MS,
  MAX_VARINT_BYTES,
} from './types';
export type { Framing, FrameReaderOptions, Frame, FrameSink, FrameSource, FrameConnection, FrameServer } from './types';
export {
  MAX_PREFIX_VALUE,
  U32_PREFIX_BYTES,
  varintLength,
  writeVarint,
  prefixLength,
  writePrefix,
  readPrefix,
} from './length-prefix';
export type { ParsedPrefix } from './length-prefix';
export {
  encodedFrameLength,
  encodeFrameInto,
  encodeFrame,
  encodeFrames,
  PrefixSlab,
  ZERO_COPY_MIN_PAYLOAD_BYTES,
} from './encode';
export { FrameDecoder, decodeFrames, resolveMaxFrameBytes } from './frame-decoder';
export type { FrameDecoderOptions } from './frame-decoder';
export { readFrames } from './stream-source';
export type { StreamReaderOptions } from './stream-source';
export { StreamFrameSink, createStreamSink } from './stream-sink';
export type { StreamSinkOptions } from './stream-sink';
export { openFileSource, DEFAULT_FILE_CHUNK_BYTES } from './file-source';
export type { FileSourceOptions } from './file-source';
export { openFileSink, FileFrameSink, DEFAULT_FILE_BUFFER_BYTES } from './file-sink';
export type { FileSinkOptions } from './file-sink';
export { MAX_PENDING_CONNECTIONS } from './accepted-connections';
export {
  SocketFrameConnection,
  SocketFrameServer,
  connectFrames,
  connectFrameSource,
  connectFrameSink,
  listenFrames,
} from './socket';
export type { SocketEndpoint, SocketFramingOptions, SocketConnectOptions } from './socket';
export {
  WebSocketFrameSink,
  WebSocketFrameConnection,
  WebSocketFrameServer,
  webSocketFrames,
  webSocketMaxPayload,
  connectWebSocketFrames,
  listenWebSocketFrames,
  WS_CLOSE_NORMAL,
  WS_CLOSE_UNSUPPORTED_DATA,
  WS_CLOSE_POLICY_VIOLATION,
  WS_CLOSE_MESSAGE_TOO_BIG,
} from './websocket';
export type { WebSocketFramingOptions, WebSocketConnectOptions, WebSocketListenOptions } from './websocket';
