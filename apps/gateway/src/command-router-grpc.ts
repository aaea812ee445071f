// framewire.v1.CommandRouter over gRPC: the adapter between grpc-js calls and the transport-free
// CommandRouter of @framewire/commands. Register with CommandRouterService from @framewire/proto.
import * as grpc from '@grpc/grpc-js';
import { LoggerService } from '@nestjs/common';
import { commandBytes, CommandRouter, CommandRouterBusyError, CommandValidationError, SERVICE_ID_PATTERN } from '@framewire/commands';
import {
  AcknowledgeCommandRequest,
  AcknowledgeCommandResponse,
  Command,
  CommandRouterServer,
  SendCommandRequest,
  SendCommandResponse,
  SubscribeCommandsRequest,
  SubscribeCommandsResponse,
} from '@framewire/proto';
import { Secret, unauthenticatedError } from '@framewire/service-runtime';

/**
 * Commands held for one subscriber whose stream is not draining. Commands are small and each waits
 * for an ack, so a subscriber this far behind is stuck: further commands for it are refused at once
 * (the caller gets an ERROR ack saying so) instead of growing memory; the queued ones time out.
 */
export const MAX_QUEUED_COMMANDS_PER_SUBSCRIBER = 64;
/** Bytes (commandBytes) of the commands held for one subscriber, with the same policy. */
export const MAX_QUEUED_COMMAND_BYTES_PER_SUBSCRIBER = 1024 * 1024;

const CONTEXT = 'CommandRouterGrpc';

export interface CommandRouterGrpcOptions {
  /** When set, every call needs `authorization: Bearer <token>`. */
  token?: Secret<string>;
  logger: LoggerService;
}

type GrpcStatusError = Partial<grpc.StatusObject> & { code: grpc.status; details: string };

const invalidArgument = (details: string): GrpcStatusError => ({ code: grpc.status.INVALID_ARGUMENT, details });

export function commandRouterGrpcService(router: CommandRouter, options: CommandRouterGrpcOptions): grpc.UntypedServiceImplementation {
  const { token, logger } = options;

  const sendCommand = (call: grpc.ServerUnaryCall<SendCommandRequest, SendCommandResponse>, callback: grpc.sendUnaryData<SendCommandResponse>): void => {
    const denied = unauthenticatedError(call.metadata, token);
    if (denied) return callback(denied);
    const command = call.request.command;
    if (command === undefined) return callback(invalidArgument('command is required'));
    router.send(command).then(
      (ack) => callback(null, { ack }),
      (error: unknown) => {
        if (error instanceof CommandValidationError) return callback(invalidArgument(error.message));
        if (error instanceof CommandRouterBusyError) return callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: error.message });
        logger.error({ message: 'SendCommand failed', error: String(error) }, (error as Error).stack, CONTEXT);
        callback({ code: grpc.status.INTERNAL, details: 'internal error in the command router' });
      },
    );
  };

  const subscribeCommands = (call: grpc.ServerWritableStream<SubscribeCommandsRequest, SubscribeCommandsResponse>): void => {
    const denied = unauthenticatedError(call.metadata, token);
    if (denied) {
      call.emit('error', denied);
      return;
    }
    const serviceId = call.request.serviceId;
    if (!SERVICE_ID_PATTERN.test(serviceId)) {
      call.emit('error', invalidArgument(`service_id ${JSON.stringify(serviceId.slice(0, 80))} is not a service id (1-64 letters, digits, '.', '_', ':', '-')`));
      return;
    }
    const queue: Command[] = [];
    let queuedBytes = 0;
    let ended = false;
    let writing = false;
    const flush = (): void => {
      // One command in the transport at a time: the next is written once grpc-js handed this one to
      // HTTP/2 (which waits for the service to read), so the bounded queue is the only buffer.
      if (ended || writing || queue.length === 0) return;
      const command = queue.shift() as Command;
      queuedBytes -= commandBytes(command);
      writing = true;
      call.write({ command }, () => {
        writing = false;
        flush();
      });
    };
    const deliver = (command: Command): void => {
      if (ended) throw new Error(`the command subscription of "${serviceId}" has ended`);
      const bytes = commandBytes(command);
      if (queue.length >= MAX_QUEUED_COMMANDS_PER_SUBSCRIBER || (queue.length > 0 && queuedBytes + bytes > MAX_QUEUED_COMMAND_BYTES_PER_SUBSCRIBER)) {
        throw new Error(`"${serviceId}" is not reading its commands (${queue.length} waiting, ${queuedBytes} bytes)`);
      }
      queue.push(command);
      queuedBytes += bytes;
      flush();
    };
    const detach = router.attach(serviceId, deliver, (reason) => {
      if (ended) return;
      ended = true;
      queue.length = 0;
      queuedBytes = 0;
      logger.log({ message: 'command subscription ended by the gateway', serviceId, reason }, CONTEXT);
      call.end();
    });
    const stop = (): void => {
      if (!ended) logger.log({ message: 'command subscription closed', serviceId }, CONTEXT);
      ended = true;
      queue.length = 0;
      queuedBytes = 0;
      detach();
    };
    call.on('cancelled', stop);
    call.on('error', stop);
    call.on('close', stop);
    call.on('finish', stop);
    // Headers now, so the service knows at once that it is subscribed.
    call.sendMetadata(new grpc.Metadata());
    logger.log({ message: 'service subscribed for commands', serviceId, peer: call.getPeer() }, CONTEXT);
  };

  const acknowledgeCommand = (
    call: grpc.ServerUnaryCall<AcknowledgeCommandRequest, AcknowledgeCommandResponse>,
    callback: grpc.sendUnaryData<AcknowledgeCommandResponse>,
  ): void => {
    const denied = unauthenticatedError(call.metadata, token);
    if (denied) return callback(denied);
    const ack = call.request.ack;
    if (ack === undefined) return callback(invalidArgument('ack is required'));
    if (ack.requestId === '') return callback(invalidArgument('ack.request_id is required'));
    if (!SERVICE_ID_PATTERN.test(ack.responder)) {
      return callback(invalidArgument(`ack.responder ${JSON.stringify(ack.responder.slice(0, 80))} is not a service id`));
    }
    // A late or unknown ack is not the service's fault to fix: it is counted, and the call succeeds.
    router.acknowledge(ack, ack.responder);
    callback(null, {});
  };

  const implementation: CommandRouterServer = { sendCommand, subscribeCommands, acknowledgeCommand };
  return implementation;
}
