// A client's side of StreamCommands: many commands over one long-lived bidirectional call, each
// send() resolving with its answer (as SendCommand's) when the gateway writes it, by request id.
import * as grpc from '@grpc/grpc-js';
import { Command, CommandRouterClient, SendCommandResponse, StreamCommandsResponse } from '@framewire/proto';
import { CommandCallError } from './grpc-calls';

export interface OpenCommandStreamOptions {
  /** Sent with the call (the bearer token). */
  metadata?: grpc.Metadata;
}

export interface CommandStream {
  /** Sends `command` and resolves with its answer; rejects with CommandCallError when the gateway
   *  refused it (error_code: INVALID_ARGUMENT naming the field, RESOURCE_EXHAUSTED) or the call ended
   *  first (its status). A command repeated while it is pending resolves with the same answer. */
  send(command: Command): Promise<SendCommandResponse>;
  /** Half-closes the call: the gateway answers what is in flight, then ends it. */
  end(): void;
  /** Cancels the call; pending sends reject CANCELLED. */
  cancel(): void;
  /** Answers not yet received. */
  readonly pending: number;
}

interface Waiter {
  resolve: (answer: SendCommandResponse) => void;
  reject: (error: CommandCallError) => void;
}

/** Opens a StreamCommands call on `client`. */
export function openCommandStream(client: CommandRouterClient, options: OpenCommandStreamOptions = {}): CommandStream {
  const call = client.streamCommands(options.metadata ?? new grpc.Metadata());
  const waiting = new Map<string, Waiter[]>();
  let pending = 0;
  let ended: CommandCallError | undefined;
  const failAll = (error: CommandCallError): void => {
    ended ??= error;
    for (const waiters of waiting.values()) for (const w of waiters) w.reject(error);
    waiting.clear();
    pending = 0;
  };
  call.on('data', (response: StreamCommandsResponse) => {
    const waiters = waiting.get(response.requestId);
    const w = waiters?.shift();
    if (w === undefined) return;
    if (waiters?.length === 0) waiting.delete(response.requestId);
    pending--;
    if (response.errorCode !== 0 || response.answer === undefined) w.reject(new CommandCallError(response.errorCode || grpc.status.INTERNAL, response.errorMessage));
    else w.resolve(response.answer);
  });
  call.on('error', (err: grpc.ServiceError) => failAll(new CommandCallError(err.code, err.details || err.message)));
  call.on('end', () => failAll(new CommandCallError(grpc.status.UNAVAILABLE, 'the command stream ended before its answer')));
  return {
    send(command: Command): Promise<SendCommandResponse> {
      if (ended !== undefined) return Promise.reject(ended);
      return new Promise<SendCommandResponse>((resolve, reject) => {
        const waiters = waiting.get(command.requestId) ?? [];
        waiters.push({ resolve, reject });
        waiting.set(command.requestId, waiters);
        pending++;
        call.write({ command });
      });
    },
    end: () => call.end(),
    cancel: () => call.cancel(),
    get pending() {
      return pending;
    },
  };
}
