// framewire.v1.ResultHub as a Nest controller (served by GrpcTransport): each call handed to the
// call functions of @framewire/results over the service's ResultHub; the bearer token is checked by
// GrpcBearerTokenGuard; running SubscribeResults and Replay calls end when the service stops.
import * as grpc from '@grpc/grpc-js';
import { Controller, Inject, LoggerService, UseGuards } from '@nestjs/common';
import { GrpcStreamCall } from '@nestjs/microservices';
import { PublishResultsRequest, PublishResultsResponse, ReplayRequest, ReplayResponse, SubscribeResultsRequest, SubscribeResultsResponse } from '@framewire/proto';
import { receivePublishedResults, ReplayCalls, ResultHub, streamSubscribedResults } from '@framewire/results';
import { GrpcBearerTokenGuard, GrpcTransport, SERVICE_CONFIG, SERVICE_LOGGER } from '@framewire/service-runtime';
import type { GatewayConfig } from '../config';

const SERVICE = 'ResultHub';

@Controller()
@UseGuards(GrpcBearerTokenGuard)
export class ResultHubController {
  private readonly replays: ReplayCalls;

  constructor(
    private readonly hub: ResultHub,
    private readonly transport: GrpcTransport,
    @Inject(SERVICE_CONFIG) config: GatewayConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: LoggerService,
  ) {
    this.replays = new ReplayCalls({
      archiveDirectory: config.archive.directory,
      stallTimeoutMs: config.results.stallTimeoutMs,
      logger,
      signal: transport.stopSignal,
    });
  }

  @GrpcStreamCall(SERVICE, 'publishResults')
  publishResults(call: grpc.ServerReadableStream<Buffer | PublishResultsRequest, PublishResultsResponse>, callback: grpc.sendUnaryData<PublishResultsResponse>): void {
    receivePublishedResults(this.hub, call, callback, this.logger);
  }

  @GrpcStreamCall(SERVICE, 'subscribeResults')
  subscribeResults(call: grpc.ServerWritableStream<SubscribeResultsRequest, SubscribeResultsResponse>): void {
    streamSubscribedResults(this.hub, call, { logger: this.logger, signal: this.transport.stopSignal });
  }

  @GrpcStreamCall(SERVICE, 'replay')
  replay(call: grpc.ServerWritableStream<ReplayRequest, ReplayResponse>): void {
    this.replays.serve(call);
  }
}
