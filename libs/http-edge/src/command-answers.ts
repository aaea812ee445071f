// POST /api/commands without Nest: the body parsed, the command routed, and its acknowledgement as
// the HTTP status and JSON body; refusals as RequestProblems naming the field as the body spells it.
import { CommandRouter, CommandRouterBusyError, CommandValidationError } from '@framewire/commands';
import { AckStatus, CommandAck } from '@framewire/proto';
import { parseCommandBody, RequestProblem } from './request-problems';

/** Acknowledgement status → its name in the HTTP API and the HTTP status that carries it. */
export const ACK_HTTP: Readonly<Record<AckStatus, { name: string; status: number }>> = Object.freeze({
  [AckStatus.ACK_STATUS_SUCCESS]: { name: 'success', status: 200 },
  [AckStatus.ACK_STATUS_ERROR]: { name: 'error', status: 422 },
  [AckStatus.ACK_STATUS_UNKNOWN_TYPE]: { name: 'unknown_type', status: 400 },
  [AckStatus.ACK_STATUS_UNKNOWN_TARGET]: { name: 'unknown_target', status: 404 },
  [AckStatus.ACK_STATUS_TIMEOUT]: { name: 'timeout', status: 504 },
  [AckStatus.ACK_STATUS_UNSPECIFIED]: { name: 'unspecified', status: 502 },
});

export interface AckJson {
  requestId: string;
  status: string;
  message: string;
  responder: string;
  latencyUs: number;
  /** A pool target only: each member's ack, in member id order (SendCommandResponse.member_acks). */
  memberAcks?: AckJson[];
}

const ackJson = (ack: CommandAck): AckJson => ({
  requestId: ack.requestId,
  status: (ACK_HTTP[ack.status] ?? ACK_HTTP[AckStatus.ACK_STATUS_UNSPECIFIED]).name,
  message: ack.message,
  responder: ack.responder,
  latencyUs: ack.latencyUs,
});

/** The HTTP status and JSON body that carry `ack` (and a pool's `memberAcks`, when there are any). */
export function ackAnswer(ack: CommandAck, memberAcks: readonly CommandAck[] = []): { status: number; body: AckJson } {
  const body = ackJson(ack);
  if (memberAcks.length > 0) body.memberAcks = memberAcks.map(ackJson);
  return { status: (ACK_HTTP[ack.status] ?? ACK_HTTP[AckStatus.ACK_STATUS_UNSPECIFIED]).status, body };
}

/** The router names Command fields as in the proto (request_id, payload_json, payload.fps); the
 *  HTTP body spells them in camelCase and calls the payload `payload`. */
export function fieldOfCommand(field: string): string {
  const camel = field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return camel.replace(/^payloadJson(?=$|\.)/, 'payload');
}

/** Routes the command of a POST /api/commands body and answers with its ack; throws RequestProblem
 *  for a malformed body or command (400), or a router too busy to take it (503). */
export async function answerCommand(router: Pick<CommandRouter, 'send'>, body: unknown): Promise<{ status: number; body: AckJson }> {
  const command = parseCommandBody(body);
  try {
    const { ack, memberAcks } = await router.send(command);
    return ackAnswer(ack, memberAcks);
  } catch (error) {
    if (error instanceof CommandValidationError) {
      const field = error.code === 'UNKNOWN_TYPE' ? 'type' : fieldOfCommand(error.field);
      throw new RequestProblem(field, error.message, 400);
    }
    if (error instanceof CommandRouterBusyError) throw new RequestProblem('target', error.message, 503);
    throw error;
  }
}
