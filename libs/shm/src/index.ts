// The shared-memory frame ring: co-located processes pass frame bytes through /dev/shm once and
// send only references (RingFrameRef) over gRPC. Layout and protocol: docs/shm.md.
export type { FrameRingOptions, RingFrameMeta, RingFrameRef, RingReadFailure, RingReadResult, RingReaderStats } from './contract';
export { FrameRingWriter, DEFAULT_RING_MODE } from './writer';
export { FrameRingReader } from './reader';
export type { FrameRingReaderOptions, RingBorrowResult, RingLatestFrame, RingWriterStatus } from './reader';
export {
  ShmError,
  RingOptionsError,
  RingSpaceError,
  RingOwnedError,
  RingNotFoundError,
  RingLayoutError,
  RingFrameError,
  RingClosedError,
} from './errors';
export type { ShmErrorCode } from './errors';
export { HEARTBEAT_INTERVAL_MS, HEARTBEAT_STALE_MS, LAYOUT_VERSION, RING_NAME_PATTERN, RING_TOKEN_PATTERN, SHM_DIR, STREAM_ID_MAX_BYTES, isRingName, ringGeometry } from './layout';
