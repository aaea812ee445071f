import { AckStatus, Command } from '@framewire/proto';
import { collectGarbage } from '@framewire/testing';
import { CommandRouterBusyError, CommandValidationError } from './errors';
import { commandBytes, CommandRouter } from './router';

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
    const { ack } = await answer;
    expect(ack).toMatchObject({ requestId: 'req-1', status: AckStatus.ACK_STATUS_SUCCESS, message: 'fps 10', responder: 'capture' });
    expect(ack.latencyUs).toBeGreaterThanOrEqual(0);
    expect(router.stats()).toEqual({ sent: 1, acknowledged: 1, timeouts: 0, unknownTarget: 0, unknownType: 0, lateAcks: 0, busy: 0, pending: 0, pendingBytes: 0 });
  });

  it('answers UNKNOWN_TARGET listing the attached services', async () => {
    router = new CommandRouter();
    router.attach('worker-1', () => undefined);
    const { ack } = await router.send(command({ target: 'capture' }));
    expect(ack.status).toBe(AckStatus.ACK_STATUS_UNKNOWN_TARGET);
    expect(ack.message).toContain('worker-1');
    expect(router.stats().unknownTarget).toBe(1);
  });

  it('answers UNKNOWN_TYPE without delivering', async () => {
    router = new CommandRouter();
    const deliver = jest.fn();
    router.attach('capture', deliver);
    const { ack } = await router.send(command({ type: 'capture.explode' }));
    expect(ack.status).toBe(AckStatus.ACK_STATUS_UNKNOWN_TYPE);
    expect(deliver).not.toHaveBeenCalled();
  });

  it('rejects an invalid command with CommandValidationError naming the field', async () => {
    router = new CommandRouter();
    await expect(router.send(command({ requestId: 'has space' }))).rejects.toMatchObject({ field: 'request_id' });
    // A timeout within the default bound is accepted and reaches the service as given.
    const delivered: Command[] = [];
    router.attach('capture', (c) => delivered.push(c));
    const accepted = router.send(command({ requestId: 'req-10s', timeoutMs: 10_000 }));
    await Promise.resolve();
    expect(delivered.map((c) => [c.requestId, c.timeoutMs])).toEqual([['req-10s', 10_000]]);
    expect(router.acknowledge(success('req-10s'), 'capture')).toBe(true);
    await expect(accepted).resolves.toMatchObject({ ack: { requestId: 'req-10s', status: AckStatus.ACK_STATUS_SUCCESS }, memberAcks: [] });
    const small = new CommandRouter({ maxTimeoutMs: 1_000 });
    await expect(small.send(command({ timeoutMs: 2_000 }))).rejects.toBeInstanceOf(CommandValidationError);
    small.close();
  });

  it('times out at the deadline and counts a later ack as late', async () => {
    router = new CommandRouter();
    router.attach('capture', () => undefined);
    const { ack } = await router.send(command({ timeoutMs: 30 }));
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
    const { ack: third } = await router.send(command());
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
    expect((await answer).ack.status).toBe(AckStatus.ACK_STATUS_TIMEOUT);
  });

  it('replaces a subscription of the same id and tells the old one', async () => {
    router = new CommandRouter();
    const old = jest.fn();
    const onDetach = jest.fn();
    const detachOld = router.attach('capture', old, { onDetach });
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
    const { ack } = await router.send(command());
    expect(ack.status).toBe(AckStatus.ACK_STATUS_ERROR);
    expect(ack.message).toContain('queue full');
  });

  it('answers pending commands promptly on close and detaches everyone', async () => {
    router = new CommandRouter();
    const onDetach = jest.fn();
    router.attach('capture', () => undefined, { onDetach });
    const answer = router.send(command({ timeoutMs: 60_000 }));
    router.close();
    expect((await answer).ack.status).toBe(AckStatus.ACK_STATUS_ERROR);
    expect(onDetach).toHaveBeenCalledWith('closed');
    expect(router.attachedServices()).toEqual([]);
    expect(router.stats().pending).toBe(0);
  });

  it('refuses commands beyond the pending bounds (per target, in total, in bytes) without delivering them', async () => {
    router = new CommandRouter({ maxPendingPerTarget: 3, maxPending: 5, maxPendingBytes: 8 * commandBytes(command()) });
    const delivered: string[] = [];
    for (const target of ['capture', 'supplier', 'worker-1']) router.attach(target, (c) => delivered.push(c.requestId));
    const accepted = [0, 1, 2].map((i) => command({ requestId: `c${i}` }));
    for (const c of accepted) void router.send(c);
    await expect(router.send(command({ requestId: 'c3' }))).rejects.toThrow(
      new CommandRouterBusyError('capture', 'the gateway is busy: 3 commands for "capture" wait for their acknowledgement (limit 3); retry later'),
    );
    accepted.push(...[0, 1].map((i) => command({ requestId: `s${i}`, target: 'supplier' })));
    for (const c of accepted.slice(3)) void router.send(c);
    await expect(router.send(command({ requestId: 's2', target: 'supplier' }))).rejects.toThrow('5 commands wait for their acknowledgement (limit 5)');
    const pendingBytes = accepted.reduce((sum, c) => sum + commandBytes(c), 0);
    expect(router.stats()).toMatchObject({ pending: 5, pendingBytes, busy: 2 });
    expect(delivered).toEqual(['c0', 'c1', 'c2', 's0', 's1']);
    // An answer frees its place; a refused request id was not remembered.
    router.acknowledge(success('c0'), 'capture');
    expect((await router.send(command({ requestId: 'c3', timeoutMs: 10 }))).ack.status).toBe(AckStatus.ACK_STATUS_TIMEOUT);

    const bytes = new CommandRouter({ maxPendingBytes: 2 * commandBytes(command()) + 10 });
    bytes.attach('capture', () => undefined);
    void bytes.send(command({ requestId: 'b0' }));
    void bytes.send(command({ requestId: 'b1' }));
    await expect(bytes.send(command({ requestId: 'b2' }))).rejects.toThrow(/hold \d+ bytes; \d+ more exceed the limit of \d+/);
    bytes.close();
  });

  it('remembers a request id with a digest of its command, not its payload', async () => {
    router = new CommandRouter({ maxRemembered: 5_000 });
    router.attach('capture', (c) => router.acknowledge(success(c.requestId), 'capture'));
    // 60 KiB payloads (whitespace is allowed in JSON): 2,000 of them would keep 120 MiB alive.
    const padding = ' '.repeat(60 * 1024);
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 2_000; i++) await router.send(command({ requestId: `r${i}`, payloadJson: `{"fps":${10 + (i % 50)}${padding}}` }));
    collectGarbage();
    const grownMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    expect(grownMiB).toBeLessThan(30);
    // Still the same command or not, by its digest.
    expect((await router.send(command({ requestId: 'r7', payloadJson: `{"fps":17${padding}}` }))).ack.status).toBe(AckStatus.ACK_STATUS_SUCCESS);
    await expect(router.send(command({ requestId: 'r7', payloadJson: '{"fps":17}' }))).rejects.toMatchObject({ field: 'request_id' });
  });
});
