// Injection tokens of the gateway's values that are not classes.

/** The GatewayConfig. */
export const GATEWAY_CONFIG = Symbol('GatewayConfig');
/** The SecurityConfig (token, TLS) of the gateway. */
export const GATEWAY_SECURITY = Symbol('GatewaySecurity');
/** The ResultRecorder, or null when recording is off (FW_ARCHIVE=off). */
export const RESULT_RECORDER = Symbol('ResultRecorder');
/** The service's LoggerService. */
export const GATEWAY_LOGGER = Symbol('GatewayLogger');
/** The AbortController the gateway aborts when it begins to stop. */
export const GATEWAY_STOP = Symbol('GatewayStop');
/** The FrameRecorder, or null when frame recording is off (FW_VIEWER_RECORD_FRAMES=off). */
export const FRAME_RECORDER = Symbol('FrameRecorder');
