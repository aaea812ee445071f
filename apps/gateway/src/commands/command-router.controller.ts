// framewire.v1.CommandRouter as a Nest controller (served by GrpcTransport) over the service's
// CommandRouter and the call functions of @framewire/commands; the bearer token is checked by
// GrpcBearerTokenGuard.
import * as grpc from '@grpc/grpc-js';
import { Controller, Inject, LoggerService, UseGuards } from '@nestjs/common';
import { GrpcMethod, GrpcStreamCall, RpcException } from '@nestjs/microservices';
import { acknowledgeCommandCall, CommandCallError, CommandRouter, sendCommandCall, serveCommandListener, serveCommandStream, serveCommandSubscription } from '@framewire/commands';
import {
  AcknowledgeCommandRequest,
  AcknowledgeCommandResponse,
  ListenCommandsRequest,
  ListenCommandsResponse,
  SendCommandRequest,
  SendCommandResponse,
  StreamCommandsRequest,
  StreamCommandsResponse,
  SubscribeCommandsRequest,
  SubscribeCommandsResponse,
} from '@framewire/proto';
import type { gateway as nest } from '@framewire/proto/nest';
import { GrpcBearerTokenGuard, SERVICE_LOGGER } from '@framewire/service-runtime';

const SERVICE = 'CommandRouter';

/** A refused call's CommandCallError as the status Nest answers with; anything else as it is. */
function asRpcException(error: unknown): unknown {
  return error instanceof CommandCallError ? new RpcException({ code: error.code, message: error.details }) : error;
}

@Controller()
@UseGuards(GrpcBearerTokenGuard)
export class CommandRouterController implements Pick<nest.CommandRouterController, 'sendCommand' | 'acknowledgeCommand'> {
  constructor(
    private readonly router: CommandRouter,
    @Inject(SERVICE_LOGGER) private readonly logger: LoggerService,
  ) {}

  @GrpcMethod(SERVICE, 'sendCommand')
  async sendCommand(request: SendCommandRequest): Promise<SendCommandResponse> {
    try {
      return await sendCommandCall(this.router, request, this.logger);
    } catch (error) {
      throw asRpcException(error);
    }
  }

  @GrpcStreamCall(SERVICE, 'subscribeCommands')
  subscribeCommands(call: grpc.ServerWritableStream<SubscribeCommandsRequest, SubscribeCommandsResponse>): void {
    serveCommandSubscription(this.router, call, this.logger);
  }

  @GrpcMethod(SERVICE, 'acknowledgeCommand')
  acknowledgeCommand(request: AcknowledgeCommandRequest): AcknowledgeCommandResponse {
    try {
      return acknowledgeCommandCall(this.router, request);
    } catch (error) {
      throw asRpcException(error);
    }
  }

  @GrpcStreamCall(SERVICE, 'listenCommands')
  listenCommands(call: grpc.ServerDuplexStream<ListenCommandsRequest, ListenCommandsResponse>): void {
    serveCommandListener(this.router, call, this.logger);
  }

  @GrpcStreamCall(SERVICE, 'streamCommands')
  streamCommands(call: grpc.ServerDuplexStream<StreamCommandsRequest, StreamCommandsResponse>): void {
    serveCommandStream(this.router, call, this.logger);
  }
}
