import { AckStatus, Command } from '@framewire/proto';
import { CommandValidationError } from './errors';
import { CommandRouter } from './router';

const command = (over: Partial<Command> = {}): Command => ({
  requestId: 'req-1',
  target: 'capture',
  type: 'capture.set_fps',
  payloadJson: '{"fps":10}',
  timeoutMs: 0,
  ...over,
});

const success = (requestId: string, message = 'ok') => ({ requestId, status: AckStatus.ACK_STATUS_SUCCESS, message, responder: 'capture', latencyUs: 1 });

describe('CommandRouter', () => {
  let router: CommandRouter;
  afterEach(() => router.close());

  it('delivers a command to its target and resolves with the ack', async () => {
    router = new CommandRouter();
    const delivered: Command[] = [];
    router.attach('capture', (c) => delivered.push(c));
    const answer = router.send(command());
    await Promise.resolve();
    expect(delivered).toHaveLength(1);
    // The service learns the effective timeout.
    expect(delivered[0].timeoutMs).toBe(5_000);
    expect(router.acknowledge(success('req-1', 'fps 10'), 'capture')).toBe(true);
    const ack = await answer;
    expect(ack).toMatchObject({ requestId: 'req-1', status: AckStatus.ACK_STATUS_SUCCESS, message: 'fps 10', responder: 'capture' });
    expect(ack.latencyUs).toBeGreaterThanOrEqual(0);
    expect(router.stats()).toEqual({ sent: 1, acknowledged: 1, timeouts: 0, unknownTarget: 0, unknownType: 0, lateAcks: 0, pending: 0 });
  });

  it('answers UNKNOWN_TARGET listing the attached services', async () => {
    router = new CommandRouter();
    router.attach('worker-1', () => undefined);
    const ack = await router.send(command({ target: 'capture' }));
    expect(ack.status).toBe(AckStatus.ACK_STATUS_UNKNOWN_TARGET);
    expect(ack.message).toContain('worker-1');
    expect(router.stats().unknownTarget).toBe(1);
  });

  it('answers UNKNOWN_TYPE without delivering', async () => {
    router = new CommandRouter();
    const deliver = jest.fn();
    router.attach('capture', deliver);
    const ack = await router.send(command({ type: 'capture.explode' }));
    expect(ack.status).toBe(AckStatus.ACK_STATUS_UNKNOWN_TYPE);
    expect(deliver).not.toHaveBeenCalled();
  });

  it('rejects an invalid command with CommandValidationError naming the field', async () => {
    router = new CommandRouter();
    await expect(router.send(command({ requestId: 'has space' }))).rejects.toMatchObject({ field: 'request_id' });
    await expect(router.send(command({ timeoutMs: 10_000 }))).resolves.toBeDefined();
    const small = new CommandRouter({ maxTimeoutMs: 1_000 });
    await expect(small.send(command({ timeoutMs: 2_000 }))).rejects.toBeInstanceOf(CommandValidationError);
    small.close();
  });

  it('times out at the deadline and counts a later ack as late', async () => {
    router = new CommandRouter();
    router.attach('capture', () => undefined);
    const ack = await router.send(command({ timeoutMs: 30 }));
    expect(ack.status).toBe(AckStatus.ACK_STATUS_TIMEOUT);
    expect(ack.message).toContain('30 ms');
    expect(ack.latencyUs).toBeGreaterThanOrEqual(25_000);
    expect(router.acknowledge(success('req-1'), 'capture')).toBe(false);
    expect(router.stats()).toMatchObject({ timeouts: 1, lateAcks: 1, pending: 0 });
  });

  it('gives a repeated request id the first answer and delivers once', async () => {
    router = new CommandRouter();
    const deliver = jest.fn();
    router.attach('capture', deliver);
    const first = router.send(command());
    const second = router.send(command({ timeoutMs: 1_000 }));
    router.acknowledge(success('req-1', 'first'), 'capture');
    expect(await first).toBe(await second);
    const third = await router.send(command());
    expect(third.message).toBe('first');
    expect(deliver).toHaveBeenCalledTimes(1);
  });

  it('refuses a different command that reuses a request id', async () => {
    router = new CommandRouter();
    router.attach('capture', () => undefined);
    void router.send(command());
    await expect(router.send(command({ payloadJson: '{"fps":11}' }))).rejects.toMatchObject({ field: 'request_id' });
  });

  it('forgets answered request ids after rememberMs and beyond maxRemembered', async () => {
    router = new CommandRouter({ rememberMs: 20, maxRemembered: 2 });
    const deliver = jest.fn((c: Command) => queueMicrotask(() => router.acknowledge(success(c.requestId), 'capture')));
    router.attach('capture', deliver);
    await router.send(command());
    await new Promise((r) => setTimeout(r, 40));
    await router.send(command());
    expect(deliver).toHaveBeenCalledTimes(2);
    await router.send(command({ requestId: 'b' }));
    await router.send(command({ requestId: 'c' }));
    // req-1 was pushed out by b and c.
    await router.send(command());
    expect(deliver).toHaveBeenCalledTimes(5);
  });

  it('ignores an ack from a service other than the target', async () => {
    router = new CommandRouter();
    router.attach('capture', () => undefined);
    const answer = router.send(command({ timeoutMs: 50 }));
    expect(router.acknowledge(success('req-1'), 'supplier')).toBe(false);
    expect((await answer).status).toBe(AckStatus.ACK_STATUS_TIMEOUT);
  });

  it('replaces a subscription of the same id and tells the old one', async () => {
    router = new CommandRouter();
    const old = jest.fn();
    const onDetach = jest.fn();
    const detachOld = router.attach('capture', old, onDetach);
    const fresh = jest.fn();
    router.attach('capture', fresh);
    expect(onDetach).toHaveBeenCalledWith('replaced');
    detachOld(); // must not detach the newer subscription
    void router.send(command({ timeoutMs: 20 }));
    expect(fresh).toHaveBeenCalledTimes(1);
    expect(old).not.toHaveBeenCalled();
    expect(router.attachedServices()).toEqual(['capture']);
  });

  it('answers ERROR when delivery is refused', async () => {
    router = new CommandRouter();
    router.attach('capture', () => {
      throw new Error('queue full');
    });
    const ack = await router.send(command());
    expect(ack.status).toBe(AckStatus.ACK_STATUS_ERROR);
    expect(ack.message).toContain('queue full');
  });

  it('answers pending commands promptly on close and detaches everyone', async () => {
    router = new CommandRouter();
    const onDetach = jest.fn();
    router.attach('capture', () => undefined, onDetach);
    const answer = router.send(command({ timeoutMs: 60_000 }));
    router.close();
    expect((await answer).status).toBe(AckStatus.ACK_STATUS_ERROR);
    expect(onDetach).toHaveBeenCalledWith('closed');
    expect(router.attachedServices()).toEqual([]);
    expect(router.stats().pending).toBe(0);
  });
});
