// Public entry point of @framewire/http-edge: the gateway's HTTP edge without Nest — the browser
// policy (Origin, CORS, security headers), the validation of what HTTP and WebSocket clients send
// (RequestProblem naming the field), and the routing, keepalive and closing rules of WebSocket upgrades.
export {
  AllowedOriginError,
  CONTENT_SECURITY_POLICY,
  CORS_ALLOWED_HEADERS,
  CORS_ALLOWED_METHODS,
  CORS_MAX_AGE_S,
  isSameOrigin,
  judgeOrigin,
  parseAllowedOrigins,
  SECURITY_HEADERS,
  upgradeCredentials,
  WS_BEARER_PROTOCOL_PREFIX,
  WS_PROTOCOL,
} from './browser-policy';
export type { OriginVerdict } from './browser-policy';
export { installBrowserPolicy } from './browser-policy.middleware';
export type { ExpressApplication } from './browser-policy.middleware';
export {
  MAX_COMMAND_FIELD_LENGTH,
  MAX_ID_LENGTH,
  parseCommandBody,
  parseLatestResultQuery,
  parseNoQuery,
  parseReplayQuery,
  parseResultFilterQuery,
  parseVideoQuery,
  problemBody,
  RequestProblem,
  RESULT_KIND_NAMES,
  resultKindName,
} from './request-problems';
export type { ReplayQuery, ResultFilterQuery } from './request-problems';
export { WebSocketKeepalive } from './websocket-keepalive';
export type { WebSocketKeepaliveStats } from './websocket-keepalive';
export {
  CLOSE_HANDSHAKE_TIMEOUT_MS,
  closeStalledSocket,
  handshakeProblem,
  refuseUpgrade,
  truncateReason,
  WebSocketUpgrades,
  WS_CLOSE_GOING_AWAY,
  WS_CLOSE_POLICY_VIOLATION,
} from './websocket-upgrades';
export type { UpgradePolicy, WebSocketEndpoint, WebSocketUpgradeStats } from './websocket-upgrades';
export { gatewayMetrics, numericCounters } from './gateway-metrics';
export { documentedOperations, OPENAPI_DOCUMENT } from './openapi';
export type { GatewayMetrics, GatewayMetricsSources, HubMetricsStats, WorkerMetricsStats } from './gateway-metrics';
export { ACK_HTTP, ackAnswer, answerCommand, fieldOfCommand } from './command-answers';
export type { AckJson } from './command-answers';
