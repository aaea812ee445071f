// Bounds on the connections a service accepts, on its gRPC port and its HTTP ports alike: how long a
// connection may take to open, how long one may sit unused, how dead peers are found, and how many
// there may be. A client that opens TCP and sends nothing, or opens and idles, holds nothing for long.
import type * as grpc from '@grpc/grpc-js';
import type { Server as HttpServer } from 'node:http';
import { integerVariable } from './config-variables';

export interface ConnectionLimits {
  /** A new connection must finish opening within this: TLS and the HTTP/2 connection preface on a
   *  gRPC port, the request head on an HTTP port (FW_HANDSHAKE_TIMEOUT_MS). */
  handshakeTimeoutMs: number;
  /** A gRPC connection with no call open for this long is closed with GOAWAY; a client reconnects on
   *  its next call. Calls and streams that are open are never cut for being quiet (FW_IDLE_TIMEOUT_MS). */
  idleTimeoutMs: number;
  /** A gRPC server pings every connection this often; one whose peer does not answer within the same
   *  time is closed with its calls (a dead host, a stopped process: FW_KEEPALIVE_MS). */
  keepaliveMs: number;
  /** Connections open at once on one listening port; more are refused at accept (FW_MAX_CONNECTIONS). */
  maxConnections: number;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
export const DEFAULT_KEEPALIVE_MS = 30_000;
export const DEFAULT_MAX_CONNECTIONS = 1024;

/** Concurrent calls (HTTP/2 streams) on one gRPC connection; a client's further calls wait for one to end. */
export const MAX_STREAMS_PER_CONNECTION = 1024;
/** An HTTP request's head and body must have arrived within this (or the handshake bound, if longer). */
export const HTTP_REQUEST_TIMEOUT_MS = 30_000;
/** An HTTP keep-alive connection waits this long for its next request (Node's default). */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Header lines read from one HTTP request; the rest are ignored. */
export const HTTP_MAX_HEADERS = 100;
/** How often the HTTP server looks for requests past their bounds (Node checks every 30 s by default,
 *  which would let a 10 s bound run to 40 s). */
const HTTP_TIMEOUT_CHECK_MS = 1_000;

/** The variables of the connection limits; every service reads them (serviceEnvironment). */
export const connectionEnvironment = {
  FW_HANDSHAKE_TIMEOUT_MS: integerVariable(100, 600_000, DEFAULT_HANDSHAKE_TIMEOUT_MS),
  FW_IDLE_TIMEOUT_MS: integerVariable(1_000, 24 * 3600_000, DEFAULT_IDLE_TIMEOUT_MS),
  FW_KEEPALIVE_MS: integerVariable(100, 3600_000, DEFAULT_KEEPALIVE_MS),
  FW_MAX_CONNECTIONS: integerVariable(1, 1_000_000, DEFAULT_MAX_CONNECTIONS),
};

export function connectionLimitsFrom(env: {
  FW_HANDSHAKE_TIMEOUT_MS: number;
  FW_IDLE_TIMEOUT_MS: number;
  FW_KEEPALIVE_MS: number;
  FW_MAX_CONNECTIONS: number;
}): ConnectionLimits {
  return Object.freeze({
    handshakeTimeoutMs: env.FW_HANDSHAKE_TIMEOUT_MS,
    idleTimeoutMs: env.FW_IDLE_TIMEOUT_MS,
    keepaliveMs: env.FW_KEEPALIVE_MS,
    maxConnections: env.FW_MAX_CONNECTIONS,
  });
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = Object.freeze({
  handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
  keepaliveMs: DEFAULT_KEEPALIVE_MS,
  maxConnections: DEFAULT_MAX_CONNECTIONS,
});

/** The grpc-js server options that enforce what grpc-js can of `limits` (the listener does the rest). */
export function grpcServerOptions(limits: ConnectionLimits): grpc.ServerOptions {
  return {
    'grpc.max_connection_idle_ms': limits.idleTimeoutMs,
    'grpc.keepalive_time_ms': limits.keepaliveMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveMs,
    'grpc.max_concurrent_streams': MAX_STREAMS_PER_CONNECTION,
  };
}

/**
 * Applies `limits` to a Node HTTP server before it listens: the request head within the handshake
 * bound (which covers a WebSocket upgrade's handshake too), the whole request within
 * HTTP_REQUEST_TIMEOUT_MS, keep-alive, header count and the connection cap. Upgraded WebSockets
 * leave the server's accounting; their own endpoints bound them.
 */
export function limitHttpServer(server: HttpServer, limits: ConnectionLimits): void {
  server.headersTimeout = limits.handshakeTimeoutMs;
  server.requestTimeout = Math.max(HTTP_REQUEST_TIMEOUT_MS, limits.handshakeTimeoutMs);
  server.keepAliveTimeout = HTTP_KEEP_ALIVE_TIMEOUT_MS;
  server.maxHeadersCount = HTTP_MAX_HEADERS;
  server.maxConnections = limits.maxConnections;
  // A createServer option that @types/node does not list as a property; Node reads the property when
  // the server starts listening.
  (server as HttpServer & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(HTTP_TIMEOUT_CHECK_MS, limits.handshakeTimeoutMs);
}
