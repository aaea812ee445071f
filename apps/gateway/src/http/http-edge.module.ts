// The gateway's HTTP edge: the browser policy (Origin, CORS, security headers) ahead of every route,
// JSON errors for every HTTP failure, and the WebSocket keepalive the endpoints share.
import { Inject, Module } from '@nestjs/common';
import { APP_FILTER, HttpAdapterHost } from '@nestjs/core';
import { SERVICE_CONFIG } from '@framewire/service-runtime';
import type { GatewayConfig } from '../config';
import { ExpressApplication, installBrowserPolicy, WebSocketKeepalive } from '@framewire/http-edge';
import { JsonErrorFilter } from './json-error-filter';

const keepaliveProvider = {
  provide: WebSocketKeepalive,
  inject: [SERVICE_CONFIG],
  useFactory: (config: GatewayConfig) => new WebSocketKeepalive(config.connectionLimits.keepaliveMs),
};

@Module({
  providers: [keepaliveProvider, { provide: APP_FILTER, useClass: JsonErrorFilter }],
  exports: [WebSocketKeepalive],
})
export class HttpEdgeModule {
  /** Nest makes the module while it creates the application, before the service adds the body
   *  parser and before any route: the browser policy comes first for every request. */
  constructor(adapterHost: HttpAdapterHost, @Inject(SERVICE_CONFIG) config: GatewayConfig) {
    // Absent when the module runs as a bare application context (no HTTP side).
    const app = adapterHost.httpAdapter?.getInstance() as ExpressApplication | undefined;
    if (app !== undefined) installBrowserPolicy(app, config.httpAllowedOrigins);
  }
}
