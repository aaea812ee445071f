// Public entry point of @framewire/viewer-video: the gateway's video side of the live viewer — the relay
// (latest frame per stream and per client, paced to the display rate), optional recording of the
// relayed frames, and replay of recorded frames merged with recorded results.
export { DEFAULT_CLIENT_MAX_BUFFERED_BYTES, DEFAULT_DISPLAY_FPS, DEFAULT_MAX_WATCHED_STREAMS, MAX_DISPLAY_FPS, VideoRelay, VideoRelayRefusal, isViewerRelayWorker, viewerRelayWorkerId, type OpenFrameSource, type SourceFrame } from './relay';
export { FRAME_ARCHIVE_BASE_NAME, FrameRecorder } from './frame-recorder';
export { atRecordedPace, mergeByCaptureTime, recordedFrames, viewerMessageOfVideoFrame } from './replay';
export {
  DEFAULT_MAX_REPLAYS,
  DEFAULT_VIDEO_MAX_CLIENTS,
  REPLAY_MAX_BUFFERED_BYTES,
  ReplayWebSocket,
  VideoWebSocket,
  WS_CLOSE_TRY_AGAIN_LATER,
  WS_REPLAY_PATH,
  WS_VIDEO_PATH,
} from './viewer-websockets';
export type { ReplayWebSocketStats, VideoWebSocketStats } from './viewer-websockets';
