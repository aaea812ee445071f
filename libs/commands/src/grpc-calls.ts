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
  ListenCommandsRequest,
  ListenCommandsResponse,
  SendCommandRequest,
  SendCommandResponse,
  StreamCommandsRequest,
  StreamCommandsResponse,
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

/** A call that carries commands to a service: SubscribeCommands' or ListenCommands' (both write `{ command }`). */
type CommandWritingCall = grpc.ServerWritableStream<unknown, SubscribeCommandsResponse> | grpc.ServerDuplexStream<ListenCommandsRequest, ListenCommandsResponse>;

/** The call's end with `code` and `details` (the handler owns the call; grpc-js turns this into the status). */
const endWith = (call: { emit(event: 'error', status: Partial<grpc.StatusObject>): boolean }, code: grpc.status, details: string): void => {
  call.emit('error', { code, details });
};

/** Why `serviceId` / `poolId` are not ids a subscription may use, or undefined. */
function subscriptionIdProblem(serviceId: string, poolId: string, field: string): string | undefined {
  if (!SERVICE_ID_PATTERN.test(serviceId)) return `${field}service_id ${JSON.stringify(serviceId.slice(0, 80))} is not a service id (1-64 letters, digits, '.', '_', ':', '-')`;
  if (poolId !== '' && !SERVICE_ID_PATTERN.test(poolId)) return `${field}pool_id ${JSON.stringify(poolId.slice(0, 80))} is not a pool id (empty, or 1-64 letters, digits, '.', '_', ':', '-')`;
  return undefined;
}

/**
 * Attaches `serviceId` (and its pool) to the router with `call` as its command stream: commands are
 * written one in the transport at a time, at most MAX_QUEUED_COMMANDS_PER_SUBSCRIBER (and bytes)
 * waiting. Returns the detach function, or undefined when the router refused (the call is ended:
 * FAILED_PRECONDITION for an ambiguous target, RESOURCE_EXHAUSTED for a full pool, naming the field).
 */
function attachCommandStream(router: CommandRouter, call: CommandWritingCall, serviceId: string, poolId: string, logger: LoggerService): (() => void) | undefined {
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
    endWith(call, error.code === 'POOL_FULL' ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.FAILED_PRECONDITION, error.message);
    return undefined;
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
  return stop;
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
  const problem = subscriptionIdProblem(serviceId, poolId, '');
  if (problem !== undefined) return endWith(call, grpc.status.INVALID_ARGUMENT, problem);
  attachCommandStream(router, call, serviceId, poolId, logger);
}

/**
 * ListenCommands: SubscribeCommands and AcknowledgeCommand on one bidirectional call. Request 0 must
 * carry `subscribe` (the service and its pool, refused as in SubscribeCommands); every later one an
 * ack of a command sent on this call, handed to the router as the subscribed service's. A malformed
 * request ends the call INVALID_ARGUMENT naming the request's index and the field.
 */
export function serveCommandListener(router: CommandRouter, call: grpc.ServerDuplexStream<ListenCommandsRequest, ListenCommandsResponse>, logger: LoggerService): void {
  let index = 0;
  let serviceId: string | undefined;
  let stop: (() => void) | undefined;
  let refused = false;
  const refuse = (details: string): void => {
    refused = true;
    stop?.();
    endWith(call, grpc.status.INVALID_ARGUMENT, details);
  };
  call.on('data', (request: ListenCommandsRequest) => {
    if (refused) return;
    const n = index++;
    const at = `ListenCommands request ${n}: `;
    if (serviceId === undefined) {
      if (request.subscribe === undefined) return refuse(`${at}subscribe is required in the first request (the service_id and pool_id to subscribe)`);
      const { serviceId: id, poolId } = request.subscribe;
      const problem = subscriptionIdProblem(id, poolId, 'subscribe.');
      if (problem !== undefined) return refuse(at + problem);
      serviceId = id;
      stop = attachCommandStream(router, call, id, poolId, logger);
      if (stop === undefined) refused = true;
      return;
    }
    if (request.subscribe !== undefined) return refuse(`${at}subscribe is allowed in the first request only; this call is subscribed as "${serviceId}"`);
    const ack = request.ack;
    if (ack === undefined) return refuse(`${at}ack is required after the first request`);
    if (ack.requestId === '') return refuse(`${at}ack.request_id is required`);
    if (ack.responder !== '' && ack.responder !== serviceId) {
      return refuse(`${at}ack.responder ${JSON.stringify(ack.responder.slice(0, 80))} is not "${serviceId}", the service this call is subscribed as`);
    }
    router.acknowledge(ack, serviceId, true);
  });
  call.on('end', () => {
    // The service closed its side: no more acks, so no more commands either.
    if (!refused) call.end();
  });
}

/** Commands on one StreamCommands call waiting for their answer or for its write, and their bytes:
 *  beyond either the gateway reads no further request of the call until answers were written, so a
 *  client that sends and never reads holds a bounded amount. */
export const MAX_COMMANDS_IN_FLIGHT_PER_STREAM = 64;
export const MAX_COMMAND_BYTES_IN_FLIGHT_PER_STREAM = 1024 * 1024;

/** The bytes an answer holds while it waits for its write (its strings; the rest is small). */
function answerBytes(answer: SendCommandResponse): number {
  let bytes = COMMAND_ANSWER_OVERHEAD_BYTES;
  for (const ack of [answer.ack, ...answer.memberAcks]) if (ack !== undefined) bytes += ack.requestId.length + ack.message.length * 3 + ack.responder.length + COMMAND_ANSWER_OVERHEAD_BYTES;
  return bytes;
}
const COMMAND_ANSWER_OVERHEAD_BYTES = 64;

/**
 * StreamCommands: each request a command routed as by SendCommand; each answer written as it
 * completes, naming its request_id. What SendCommand answers with a status (invalid command, reused
 * request id, busy) is an answer with error_code and error_message here, and the call goes on. At
 * most MAX_COMMANDS_IN_FLIGHT_PER_STREAM commands (and bytes) are in flight: the call is paused
 * beyond them (HTTP/2 flow control then holds the client), resumed as answers are written.
 */
export function serveCommandStream(router: CommandRouter, call: grpc.ServerDuplexStream<StreamCommandsRequest, StreamCommandsResponse>, logger: LoggerService): void {
  let inFlight = 0;
  let inFlightBytes = 0;
  let index = 0;
  let inputEnded = false;
  let finished = false;
  const settle = (bytes: number): void => {
    inFlight--;
    inFlightBytes -= bytes;
    if (call.isPaused() && inFlight < MAX_COMMANDS_IN_FLIGHT_PER_STREAM && inFlightBytes < MAX_COMMAND_BYTES_IN_FLIGHT_PER_STREAM) call.resume();
    if (inputEnded && inFlight === 0 && !finished) {
      finished = true;
      call.end();
    }
  };
  const answer = (response: StreamCommandsResponse, heldBytes: number): void => {
    if (finished || call.cancelled) return settle(heldBytes);
    // Held until grpc-js took the write: an answer the client does not read stays counted.
    const bytes = response.answer === undefined ? heldBytes : Math.max(heldBytes, answerBytes(response.answer));
    inFlightBytes += bytes - heldBytes;
    call.write(response, () => settle(bytes));
  };
  call.on('data', (request: StreamCommandsRequest) => {
    const n = index++;
    const command = request.command;
    const bytes = command === undefined ? COMMAND_ANSWER_OVERHEAD_BYTES : commandBytes(command);
    inFlight++;
    inFlightBytes += bytes;
    if (inFlight >= MAX_COMMANDS_IN_FLIGHT_PER_STREAM || inFlightBytes >= MAX_COMMAND_BYTES_IN_FLIGHT_PER_STREAM) call.pause();
    const requestId = command?.requestId ?? '';
    sendCommandCall(router, { command }, logger).then(
      (sent) => answer({ requestId, answer: sent, errorCode: 0, errorMessage: '' }, bytes),
      (error: CommandCallError) => answer({ requestId, answer: undefined, errorCode: error.code, errorMessage: command === undefined ? `StreamCommands request ${n}: ${error.details}` : error.details }, bytes),
    );
  });
  call.on('end', () => {
    inputEnded = true;
    if (inFlight === 0 && !finished) {
      finished = true;
      call.end();
    }
  });
  call.on('error', () => undefined);
}

/** The calls as a plain grpc-js service over `router`; register with CommandRouterService. */
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
    listenCommands: (call) => serveCommandListener(router, call, logger),
    streamCommands: (call) => serveCommandStream(router, call, logger),
  };
}
