// framewire.v1.CommandRouter's calls over grpc-js calls, without Nest: the adapter between them and
// the transport-free CommandRouter. The gateway's controller calls these (its guard checks the
// token); commandRouterGrpcService serves them on a plain grpc.Server (tests, benchmarks).
import * as grpc from '@grpc/grpc-js';
import type { LoggerService } from '@nestjs/common';
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
import { SERVICE_ID_PATTERN } from './catalog';
import { CommandRouterBusyError, CommandSubscriptionError, CommandValidationError } from './errors';
import { commandBytes, CommandRouter, DetachReason } from './router';

/**
 * Commands held for one subscriber whose stream is not draining. Commands are small and each waits
 * for an ack, so a subscriber this far behind is stuck: further commands for it are refused at once
 * (the caller gets an ERROR ack saying so) instead of growing memory; the queued ones time out.
 */
export const MAX_QUEUED_COMMANDS_PER_SUBSCRIBER = 64;
/** Bytes (commandBytes) of the commands held for one subscriber, with the same policy. */
export const MAX_QUEUED_COMMAND_BYTES_PER_SUBSCRIBER = 1024 * 1024;

const CONTEXT = 'CommandRouterGrpc';

/** A unary command call refused: the gRPC status and its details. */
export class CommandCallError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(details);
    this.name = 'CommandCallError';
  }
}

const invalidArgument = (details: string): CommandCallError => new CommandCallError(grpc.status.INVALID_ARGUMENT, details);

/** SendCommand: routes the command and answers with its ack (and a pool's member acks); throws CommandCallError
 *  (INVALID_ARGUMENT naming the field, RESOURCE_EXHAUSTED when the router is busy, INTERNAL). */
export async function sendCommandCall(router: CommandRouter, request: SendCommandRequest, logger: LoggerService): Promise<SendCommandResponse> {
  const command = request.command;
  if (command === undefined) throw invalidArgument('command is required');
  try {
    return await router.send(command);
  } catch (error) {
    if (error instanceof CommandValidationError) throw invalidArgument(error.message);
    if (error instanceof CommandRouterBusyError) throw new CommandCallError(grpc.status.RESOURCE_EXHAUSTED, error.message);
    logger.error({ message: 'SendCommand failed', error: String(error) }, (error as Error).stack, CONTEXT);
    throw new CommandCallError(grpc.status.INTERNAL, 'internal error in the command router');
  }
}

/** AcknowledgeCommand: hands the ack to the router; throws CommandCallError (INVALID_ARGUMENT) for
 *  a malformed one. A late or unknown ack is counted by the router, and the call succeeds. */
export function acknowledgeCommandCall(router: CommandRouter, request: AcknowledgeCommandRequest): AcknowledgeCommandResponse {
  const ack = request.ack;
  if (ack === undefined) throw invalidArgument('ack is required');
  if (ack.requestId === '') throw invalidArgument('ack.request_id is required');
  if (!SERVICE_ID_PATTERN.test(ack.responder)) throw invalidArgument(`ack.responder ${JSON.stringify(ack.responder.slice(0, 80))} is not a service id`);
  router.acknowledge(ack, ack.responder);
  return {};
}

/** SubscribeCommands: attaches the call's service (and its pool) to the router and writes its
 *  commands, one in the transport at a time, at most MAX_QUEUED_COMMANDS_PER_SUBSCRIBER (and bytes)
 *  waiting. A pool id that would make a target ambiguous is FAILED_PRECONDITION, a full pool
 *  RESOURCE_EXHAUSTED, both naming the field. */
export function serveCommandSubscription(
  router: CommandRouter,
  call: grpc.ServerWritableStream<SubscribeCommandsRequest, SubscribeCommandsResponse>,
  logger: LoggerService,
): void {
  const { serviceId, poolId } = call.request;
  if (!SERVICE_ID_PATTERN.test(serviceId)) {
    call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `service_id ${JSON.stringify(serviceId.slice(0, 80))} is not a service id (1-64 letters, digits, '.', '_', ':', '-')` });
    return;
  }
  if (poolId !== '' && !SERVICE_ID_PATTERN.test(poolId)) {
    call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `pool_id ${JSON.stringify(poolId.slice(0, 80))} is not a pool id (empty, or 1-64 letters, digits, '.', '_', ':', '-')` });
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
  const onDetach = (reason: DetachReason): void => {
    if (ended) return;
    ended = true;
    queue.length = 0;
    queuedBytes = 0;
    logger.log({ message: 'command subscription ended by the gateway', serviceId, reason }, CONTEXT);
    call.end();
  };
  let detach: () => void;
  try {
    detach = router.attach(serviceId, deliver, { poolId, onDetach });
  } catch (error) {
    if (!(error instanceof CommandSubscriptionError)) throw error;
    logger.warn({ message: 'command subscription refused', serviceId, poolId, reason: error.message }, CONTEXT);
    call.emit('error', { code: error.code === 'POOL_FULL' ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.FAILED_PRECONDITION, details: error.message });
    return;
  }
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
  logger.log({ message: 'service subscribed for commands', serviceId, ...(poolId === '' ? {} : { poolId }), peer: call.getPeer() }, CONTEXT);
}

/** The three calls as a plain grpc-js service over `router`; register with CommandRouterService. */
export function commandRouterGrpcService(router: CommandRouter, logger: LoggerService): CommandRouterServer {
  const unary =
    <Q, R>(answer: (request: Q) => R | Promise<R>) =>
    (call: grpc.ServerUnaryCall<Q, R>, callback: grpc.sendUnaryData<R>): void => {
      Promise.resolve()
        .then(() => answer(call.request))
        .then(
          (response) => callback(null, response),
          (error: CommandCallError) => callback({ code: error.code, details: error.details }),
        );
    };
  return {
    sendCommand: unary((request: SendCommandRequest) => sendCommandCall(router, request, logger)),
    subscribeCommands: (call) => serveCommandSubscription(router, call, logger),
    acknowledgeCommand: unary((request: AcknowledgeCommandRequest) => acknowledgeCommandCall(router, request)),
  };
}
