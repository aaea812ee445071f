// The command form's logic without a browser: templates and targets per type, the payload checked
// before sending, the request sent, and each kind of answer as the page shows it.
import { commandTypeChosen, COMMAND_PAYLOADS, describeCommandAnswer, newRequestId, parseCommandPayload, sendCommand } from './command-form';
import { GatewayHttp } from './gateway-access';
import { fakeFetch } from './testing/fakes';

describe('the command form', () => {
  it('fills the payload template of a type and sends it to that service', () => {
    expect(commandTypeChosen('capture.set_fps', 'worker-3')).toEqual({ payload: COMMAND_PAYLOADS['capture.set_fps'], target: 'capture' });
    expect(commandTypeChosen('supplier.set_limits', 'capture')).toEqual({ payload: '{"maxWorkers": 64}', target: 'supplier' });
  });

  it('keeps a worker target for a worker command, and picks worker-1 otherwise', () => {
    expect(commandTypeChosen('worker.set_fps', 'worker-3').target).toBe('worker-3');
    expect(commandTypeChosen('worker.set_fps', 'capture').target).toBe('worker-1');
  });

  it('refuses a payload that is not JSON without a status (nothing was sent), and reads empty as {}', () => {
    const bad = parseCommandPayload('{"fps":');
    expect('answer' in bad && bad.answer.ok === false && bad.answer.status === undefined && bad.answer.text.startsWith('payload is not JSON: ')).toBe(true);
    expect(parseCommandPayload('')).toEqual({ payload: {} });
  });

  it('describes an acknowledgement and an HTTP error naming its field', () => {
    expect(describeCommandAnswer(200, { status: 'success', responder: 'capture', latencyUs: 1234, message: 'paused' })).toEqual({ ok: true, status: 'success', text: 'success from capture in 1.2 ms: paused' });
    expect(describeCommandAnswer(200, { status: 'unknown_target', responder: '', latencyUs: 0, message: 'no such service' })).toEqual({ ok: false, status: 'unknown_target', text: 'unknown_target from nobody in 0.0 ms: no such service' });
    expect(describeCommandAnswer(422, { error: 'threshold out of range', field: 'payload.settings.threshold' })).toEqual({ ok: false, status: 'error', text: 'HTTP 422: threshold out of range (field payload.settings.threshold)' });
  });

  it('posts the command with its request id, and says when the gateway did not answer', async () => {
    const ok = fakeFetch({ status: 200, body: { status: 'success', responder: 'capture', latencyUs: 500, message: '' } });
    const command = { requestId: newRequestId(0, 0.5), target: 'capture', type: 'capture.pause', payload: {} };
    expect((await sendCommand(new GatewayHttp({ fetch: ok.fetch, token: () => '', onUnauthorized: () => undefined }), command)).status).toBe('success');
    expect(JSON.parse(ok.calls[0].init.body as string)).toEqual(command);
    expect(ok.calls[0].path).toBe('/api/commands');
    const down = fakeFetch({ error: new Error('connection refused') });
    expect(await sendCommand(new GatewayHttp({ fetch: down.fetch, token: () => '', onUnauthorized: () => undefined }), command)).toEqual({ ok: false, status: 'error', text: 'no answer: connection refused' });
  });

  it('makes request ids from the time and randomness', () => {
    expect(newRequestId(35, 0.5)).toBe('viewer-z-i');
    expect(newRequestId(1, 0.25)).not.toBe(newRequestId(1, 0.75));
  });
});
