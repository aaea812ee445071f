// The command form's logic: a payload template and a target per command type, the payload parsed
// before anything is sent, the POST to /api/commands with a fresh request id, and the answer (the
// acknowledgement, the gateway's typed error, or no answer) as the text and status the page shows.
import { GatewayHttp } from './gateway-access';

/** The payload a command type starts with. */
export const COMMAND_PAYLOADS: Record<string, string> = {
  'capture.pause': '{}',
  'capture.resume': '{}',
  'capture.set_fps': '{"fps": 15}',
  'worker.set_analyzer': '{"analyzer": "motion", "settings": {"threshold": 30}}',
  'worker.set_fps': '{"fps": 0}',
  'supplier.set_limits': '{"maxWorkers": 64}',
};
const DEFAULT_WORKER_TARGET = 'worker-1';

/** The form after the command type changed: its payload template and the target it goes to. */
export function commandTypeChosen(type: string, target: string): { payload: string; target: string } {
  const service = type.split('.')[0];
  if (service === 'worker') return { payload: COMMAND_PAYLOADS[type] ?? '{}', target: target.startsWith('worker') ? target : DEFAULT_WORKER_TARGET };
  return { payload: COMMAND_PAYLOADS[type] ?? '{}', target: service };
}

/** What the page shows under the button. `status` is the ack's status (or 'error'); absent while sending. */
export interface CommandAnswer {
  ok: boolean;
  status?: string;
  text: string;
}

export const newRequestId = (nowMs: number, random: number): string => `viewer-${nowMs.toString(36)}-${random.toString(36).slice(2, 8)}`;

/** Describes the gateway's answer to a command: an acknowledgement, or an HTTP error body. */
export function describeCommandAnswer(httpStatus: number, body: { status?: string; responder?: string; latencyUs?: number; message?: string; error?: string; field?: string }): CommandAnswer {
  return {
    ok: body.status === 'success',
    status: body.status ?? 'error',
    text:
      body.status !== undefined
        ? `${body.status} from ${body.responder || 'nobody'} in ${((body.latencyUs as number) / 1000).toFixed(1)} ms: ${body.message}`
        : `HTTP ${httpStatus}: ${body.error}${body.field ? ` (field ${body.field})` : ''}`,
  };
}

/** Parses the payload; a payload that is not JSON is answered without sending anything (no status). */
export function parseCommandPayload(text: string): { payload: unknown } | { answer: CommandAnswer } {
  try {
    return { payload: JSON.parse(text || '{}') };
  } catch (error) {
    return { answer: { ok: false, text: `payload is not JSON: ${(error as Error).message}` } };
  }
}

/** Sends the command and answers what to show. */
export async function sendCommand(http: GatewayHttp, command: { requestId: string; target: string; type: string; payload: unknown }): Promise<CommandAnswer> {
  try {
    const { status, body } = await http.postJson('/api/commands', command);
    return describeCommandAnswer(status, body);
  } catch (error) {
    return { ok: false, status: 'error', text: `no answer: ${(error as Error).message}` };
  }
}
