// Injection tokens of the gateway's values that are not classes.

/** The ResultRecorder, or null when recording is off (FW_ARCHIVE=off). */
export const RESULT_RECORDER = Symbol('ResultRecorder');
/** The gateway's Prometheus metrics (GatewayMetrics of @framewire/http-edge). */
export const GATEWAY_METRICS = Symbol('GatewayMetrics');
/** The FrameRecorder, or null when frame recording is off (FW_VIEWER_RECORD_FRAMES=off). */
export const FRAME_RECORDER = Symbol('FrameRecorder');
