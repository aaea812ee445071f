// POST /api/commands on a real CommandRouter, without HTTP: acks as HTTP statuses and JSON, refusals
// as RequestProblems naming the field as the body spells it.
import { CommandRouter } from '@framewire/commands';
import { AckStatus } from '@framewire/proto';
import { ackAnswer, answerCommand, fieldOfCommand } from './command-answers';
import { RequestProblem } from './request-problems';

describe('answerCommand', () => {
  let router: CommandRouter;
  beforeEach(() => (router = new CommandRouter({ defaultTimeoutMs: 1_000 })));
  afterEach(() => router.close());

  it('answers an unknown target with 404 and its ack as JSON', async () => {
    const answer = await answerCommand(router, { requestId: 'r-1', target: 'nobody', type: 'capture.pause' });
    expect(answer).toEqual({ status: 404, body: expect.objectContaining({ requestId: 'r-1', status: 'unknown_target' }) });
  });

  it('answers a service acknowledgement with its status', async () => {
    router.attach('capture', (command) => router.acknowledge({ requestId: command.requestId, status: AckStatus.ACK_STATUS_SUCCESS, message: 'paused', responder: 'capture', latencyUs: 0 }, 'capture'), { onDetach: () => undefined });
    const answer = await answerCommand(router, { requestId: 'r-2', target: 'capture', type: 'capture.pause' });
    expect(answer).toEqual({ status: 200, body: expect.objectContaining({ requestId: 'r-2', status: 'success', message: 'paused', responder: 'capture' }) });
  });

  it('answers a pool command with the summary status and each member ack, and a service command without memberAcks', async () => {
    for (const [member, status] of [['worker-1', AckStatus.ACK_STATUS_SUCCESS], ['worker-2', AckStatus.ACK_STATUS_ERROR]] as const) {
      router.attach(member, (c) => router.acknowledge({ requestId: c.requestId, status, message: `${member} says`, responder: member, latencyUs: 0 }, member), { poolId: 'detectors' });
    }
    const answer = await answerCommand(router, { requestId: 'r-3', target: 'detectors', type: 'worker.set_fps', payload: { fps: 2 } });
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ requestId: 'r-3', status: 'error', responder: 'detectors', message: '1 of 2 members of pool "detectors" succeeded; worker-2 ERROR: worker-2 says' });
    expect(answer.body.memberAcks?.map((a) => [a.responder, a.status, a.message])).toEqual([
      ['worker-1', 'success', 'worker-1 says'],
      ['worker-2', 'error', 'worker-2 says'],
    ]);
    const single = await answerCommand(router, { requestId: 'r-4', target: 'worker-1', type: 'worker.set_fps', payload: { fps: 2 } });
    expect(single.body).not.toHaveProperty('memberAcks');
  });

  it('refuses a command the router refuses with 400 naming the field in the body spelling', async () => {
    const refusal = await answerCommand(router, { requestId: 'has spaces', target: 'capture', type: 'capture.pause' }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(RequestProblem);
    expect(refusal).toMatchObject({ status: 400, field: 'requestId', message: expect.stringContaining('request_id') });
  });

  it('maps every ack status, and an unknown one to 502', () => {
    expect(ackAnswer({ requestId: 'r', status: AckStatus.ACK_STATUS_TIMEOUT, message: '', responder: '', latencyUs: 0 }).status).toBe(504);
    expect(ackAnswer({ requestId: 'r', status: 99 as AckStatus, message: '', responder: '', latencyUs: 0 })).toMatchObject({ status: 502, body: { status: 'unspecified' } });
    expect(fieldOfCommand('payload_json.fps')).toBe('payload.fps');
    expect(fieldOfCommand('request_id')).toBe('requestId');
  });
});
