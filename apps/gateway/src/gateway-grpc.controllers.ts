// framewire.v1.ResultHub and framewire.v1.CommandRouter as Nest controllers served by GrpcTransport,
// over the handlers of result-hub-grpc.ts and command-router-grpc.ts.
import * as grpc from '@grpc/grpc-js';
import { Controller, Inject, LoggerService } from '@nestjs/common';
import { GrpcMethod, GrpcStreamCall, RpcException } from '@nestjs/microservices';
import { CommandRouter } from '@framewire/commands';
import { AcknowledgeCommandRequest, AcknowledgeCommandResponse, SendCommandRequest, SendCommandResponse } from '@framewire/proto';
import { ResultHub } from '@framewire/results';
import { commandRouterGrpcService } from './command-router-grpc';
import { GatewayConfig } from './config';
import { GATEWAY_CONFIG, GATEWAY_LOGGER, GATEWAY_STOP } from './http/tokens';
import { resultHubGrpcService } from './result-hub-grpc';

type StreamHandler = (call: unknown, callback?: unknown) => void;
type UnaryHandler<Q, R> = (call: grpc.ServerUnaryCall<Q, R>, callback: grpc.sendUnaryData<R>) => void;

/** A unary grpc-js handler as a Nest one: its callback's status becomes the RpcException thrown. */
function answer<Q, R>(handler: UnaryHandler<Q, R>, call: grpc.ServerUnaryCall<Q, R>): Promise<R> {
  return new Promise<R>((resolve, reject) =>
    handler(call, (error, value) => {
      if (error) reject(new RpcException({ code: error.code ?? grpc.status.UNKNOWN, message: error.details ?? '' }));
      else resolve(value as R);
    }),
  );
}

@Controller()
export class ResultHubController {
  private readonly handlers: grpc.UntypedServiceImplementation;

  constructor(
    hub: ResultHub,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    @Inject(GATEWAY_LOGGER) logger: LoggerService,
    @Inject(GATEWAY_STOP) stop: AbortController,
  ) {
    this.handlers = resultHubGrpcService(hub, {
      archiveDirectory: config.archive.directory,
      token: config.security.token,
      logger,
      stallTimeoutMs: config.results.stallTimeoutMs,
      signal: stop.signal,
    });
  }

  @GrpcStreamCall('ResultHub', 'publishResults')
  publishResults(call: unknown, callback: unknown): void {
    (this.handlers.publishResults as StreamHandler)(call, callback);
  }

  @GrpcStreamCall('ResultHub', 'subscribeResults')
  subscribeResults(call: unknown): void {
    (this.handlers.subscribeResults as StreamHandler)(call);
  }

  @GrpcStreamCall('ResultHub', 'replay')
  replay(call: unknown): void {
    (this.handlers.replay as StreamHandler)(call);
  }
}

@Controller()
export class CommandRouterController {
  private readonly handlers: grpc.UntypedServiceImplementation;

  constructor(router: CommandRouter, @Inject(GATEWAY_CONFIG) config: GatewayConfig, @Inject(GATEWAY_LOGGER) logger: LoggerService) {
    this.handlers = commandRouterGrpcService(router, { token: config.security.token, logger });
  }

  @GrpcMethod('CommandRouter', 'sendCommand')
  sendCommand(_request: SendCommandRequest, _metadata: grpc.Metadata, call: grpc.ServerUnaryCall<SendCommandRequest, SendCommandResponse>): Promise<SendCommandResponse> {
    return answer(this.handlers.sendCommand as UnaryHandler<SendCommandRequest, SendCommandResponse>, call);
  }

  @GrpcStreamCall('CommandRouter', 'subscribeCommands')
  subscribeCommands(call: unknown): void {
    (this.handlers.subscribeCommands as StreamHandler)(call);
  }

  @GrpcMethod('CommandRouter', 'acknowledgeCommand')
  acknowledgeCommand(
    _request: AcknowledgeCommandRequest,
    _metadata: grpc.Metadata,
    call: grpc.ServerUnaryCall<AcknowledgeCommandRequest, AcknowledgeCommandResponse>,
  ): Promise<AcknowledgeCommandResponse> {
    return answer(this.handlers.acknowledgeCommand as UnaryHandler<AcknowledgeCommandRequest, AcknowledgeCommandResponse>, call);
  }
}
