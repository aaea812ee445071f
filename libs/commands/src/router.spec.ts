import { AckStatus, Command } from '@framewire/proto';
import { collectGarbage } from '@framewire/testing';
import { CommandRouterBusyError, CommandSubscriptionError, CommandValidationError } from './errors';
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
    expect(router.stats()).toEqual({ sent: 1, acknowledged: 1, acknowledgedOnStream: 0, timeouts: 0, unknownTarget: 0, unknownType: 0, lateAcks: 0, busy: 0, pending: 0, pendingBytes: 0 });
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

describe('CommandRouter with pools', () => {
  let router: CommandRouter;
  afterEach(() => router.close());

  const poolCommand = (over: Partial<Command> = {}): Command => command({ target: 'detectors', type: 'worker.set_fps', payloadJson: '{"fps":5}', ...over });
  const ackFrom = (responder: string, requestId = 'req-1', status = AckStatus.ACK_STATUS_SUCCESS, message = `${responder} ok`) => ({ requestId, status, message, responder, latencyUs: 1 });
  /** Attaches members of "detectors" (and others as given) that record what they receive. */
  const attachAll = (ids: Record<string, string>): Record<string, Command[]> => {
    const received: Record<string, Command[]> = {};
    for (const [serviceId, poolId] of Object.entries(ids)) {
      received[serviceId] = [];
      router.attach(serviceId, (c) => received[serviceId].push(c), { poolId });
    }
    return received;
  };

  it('delivers a pool command to every member and answers with each ack and an all-succeeded summary', async () => {
    router = new CommandRouter();
    const received = attachAll({ 'worker-3': 'detectors', 'worker-1': 'detectors', 'worker-2': 'detectors', 'worker-9': '', 'tracker-1': 'trackers' });
    const answer = router.send(poolCommand());
    expect(Object.fromEntries(Object.entries(received).map(([id, cs]) => [id, cs.map((c) => [c.target, c.timeoutMs])]))).toEqual({
      'worker-1': [['detectors', 5_000]],
      'worker-2': [['detectors', 5_000]],
      'worker-3': [['detectors', 5_000]],
      'worker-9': [],
      'tracker-1': [],
    });
    expect(router.stats()).toMatchObject({ sent: 3, pending: 3, pendingBytes: 3 * commandBytes(poolCommand()) });
    for (const id of ['worker-2', 'worker-3', 'worker-1']) expect(router.acknowledge(ackFrom(id), id)).toBe(true);
    const { ack, memberAcks } = await answer;
    expect(ack).toMatchObject({ requestId: 'req-1', status: AckStatus.ACK_STATUS_SUCCESS, message: '3 of 3 members of pool "detectors" succeeded', responder: 'detectors' });
    expect(memberAcks.map((a) => [a.responder, a.status, a.message, a.requestId])).toEqual([
      ['worker-1', AckStatus.ACK_STATUS_SUCCESS, 'worker-1 ok', 'req-1'],
      ['worker-2', AckStatus.ACK_STATUS_SUCCESS, 'worker-2 ok', 'req-1'],
      ['worker-3', AckStatus.ACK_STATUS_SUCCESS, 'worker-3 ok', 'req-1'],
    ]);
    expect(router.stats()).toMatchObject({ sent: 3, acknowledged: 3, timeouts: 0, pending: 0, pendingBytes: 0 });
    expect(router.attachedPools()).toEqual({ detectors: ['worker-1', 'worker-2', 'worker-3'], trackers: ['tracker-1'] });
  });

  it('completes at the deadline with the members that did not answer as TIMEOUT', async () => {
    router = new CommandRouter();
    attachAll({ 'worker-1': 'detectors', 'worker-2': 'detectors', 'worker-3': 'detectors' });
    const answer = router.send(poolCommand({ timeoutMs: 40 }));
    router.acknowledge(ackFrom('worker-1'), 'worker-1');
    router.acknowledge(ackFrom('worker-3'), 'worker-3');
    const { ack, memberAcks } = await answer;
    expect(ack.status).toBe(AckStatus.ACK_STATUS_TIMEOUT);
    expect(ack.message).toBe('2 of 3 members of pool "detectors" succeeded; worker-2 TIMEOUT: no acknowledgement from "worker-2" within 40 ms');
    expect(ack.latencyUs).toBeGreaterThanOrEqual(35_000);
    expect(memberAcks.map((a) => [a.responder, a.status])).toEqual([
      ['worker-1', AckStatus.ACK_STATUS_SUCCESS],
      ['worker-2', AckStatus.ACK_STATUS_TIMEOUT],
      ['worker-3', AckStatus.ACK_STATUS_SUCCESS],
    ]);
    // The straggler's ack is late, as for a service target.
    expect(router.acknowledge(ackFrom('worker-2'), 'worker-2')).toBe(false);
    expect(router.stats()).toMatchObject({ timeouts: 1, lateAcks: 1, pending: 0 });
  });

  it("answers with the first failing member's status, in member order, and refuses a member's second ack", async () => {
    router = new CommandRouter();
    attachAll({ a: 'detectors', b: 'detectors', c: 'detectors' });
    const answer = router.send(poolCommand());
    expect(router.acknowledge(ackFrom('c', 'req-1', AckStatus.ACK_STATUS_UNKNOWN_TYPE, 'c does not handle it'), 'c')).toBe(true);
    expect(router.acknowledge(ackFrom('b', 'req-1', AckStatus.ACK_STATUS_ERROR, 'payload.fps must be at most 30 (got 5)'), 'b')).toBe(true);
    expect(router.acknowledge(ackFrom('b'), 'b')).toBe(false);
    expect(router.acknowledge(ackFrom('a'), 'a')).toBe(true);
    const { ack, memberAcks } = await answer;
    expect(ack).toMatchObject({ status: AckStatus.ACK_STATUS_ERROR, responder: 'detectors', message: '1 of 3 members of pool "detectors" succeeded; b ERROR: payload.fps must be at most 30 (got 5)' });
    expect(memberAcks.map((a) => a.status)).toEqual([AckStatus.ACK_STATUS_SUCCESS, AckStatus.ACK_STATUS_ERROR, AckStatus.ACK_STATUS_UNKNOWN_TYPE]);
    // An ack from outside the pool is not one of its answers.
    const next = router.send(poolCommand({ requestId: 'req-2', timeoutMs: 30 }));
    expect(router.acknowledge(ackFrom('worker-9', 'req-2'), 'worker-9')).toBe(false);
    expect((await next).memberAcks.every((a) => a.status === AckStatus.ACK_STATUS_TIMEOUT)).toBe(true);
  });

  it('answers a member that refuses delivery ERROR and still delivers to the others', async () => {
    router = new CommandRouter();
    const received = attachAll({ a: 'detectors', c: 'detectors' });
    router.attach('b', () => {
      throw new Error('queue full');
    }, { poolId: 'detectors' });
    const answer = router.send(poolCommand());
    expect([received.a.length, received.c.length]).toEqual([1, 1]);
    router.acknowledge(ackFrom('a'), 'a');
    router.acknowledge(ackFrom('c'), 'c');
    const { ack, memberAcks } = await answer;
    expect(ack.status).toBe(AckStatus.ACK_STATUS_ERROR);
    expect(memberAcks[1]).toMatchObject({ responder: 'b', status: AckStatus.ACK_STATUS_ERROR, message: 'could not deliver to "b": queue full' });
    expect(router.stats()).toMatchObject({ sent: 2, pending: 0 });
  });

  it('gives a repeated request id the first answer and delivers to each member once', async () => {
    router = new CommandRouter();
    const received = attachAll({ a: 'detectors', b: 'detectors' });
    const first = router.send(poolCommand());
    const second = router.send(poolCommand());
    router.acknowledge(ackFrom('a'), 'a');
    router.acknowledge(ackFrom('b'), 'b');
    expect(await second).toBe(await first);
    expect(await router.send(poolCommand())).toBe(await first);
    expect([received.a.length, received.b.length]).toEqual([1, 1]);
    await expect(router.send(poolCommand({ payloadJson: '{"fps":6}' }))).rejects.toMatchObject({ field: 'request_id' });
  });

  it('refuses a subscription that would make a target name both a service and a pool, changing nothing', async () => {
    router = new CommandRouter();
    const received = attachAll({ capture: '', 'worker-1': 'detectors' });
    const refusal = (serviceId: string, poolId: string) => {
      try {
        router.attach(serviceId, () => undefined, { poolId });
      } catch (error) {
        return error;
      }
      return undefined;
    };
    expect(refusal('worker-2', 'capture')).toEqual(
      new CommandSubscriptionError('pool_id', 'TARGET_CONFLICT', 'pool_id "capture" is the id of a service subscribed for commands; give the pool or the service another id'),
    );
    expect(refusal('detectors', '')).toMatchObject({ field: 'service_id', code: 'TARGET_CONFLICT', message: expect.stringContaining('the id of a pool with 1 member') });
    expect(router.attachedServices()).toEqual(['capture', 'worker-1']);
    expect(router.attachedPools()).toEqual({ detectors: ['worker-1'] });
    // A pool named after the service itself is no pool: the service's own id reaches it.
    expect(refusal('worker-2', 'worker-2')).toBeUndefined();
    expect(router.attachedPools()).toEqual({ detectors: ['worker-1'] });
    expect(router.attachedServices()).toEqual(['capture', 'worker-1', 'worker-2']);
    void router.send(command({ target: 'capture', timeoutMs: 20 }));
    void router.send(poolCommand({ requestId: 'req-2', timeoutMs: 20 }));
    expect([received.capture.length, received['worker-1'].length]).toEqual([1, 1]);
  });

  it('holds at most maxPoolMembers members per pool; a member re-subscribing keeps its place', () => {
    router = new CommandRouter({ maxPoolMembers: 2 });
    attachAll({ a: 'detectors', b: 'detectors' });
    expect(() => router.attach('c', () => undefined, { poolId: 'detectors' })).toThrow(
      new CommandSubscriptionError('pool_id', 'POOL_FULL', 'pool "detectors" has 2 members subscribed for commands (limit 2)'),
    );
    expect(() => router.attach('b', () => undefined, { poolId: 'detectors' })).not.toThrow();
    expect(router.attachedPools()).toEqual({ detectors: ['a', 'b'] });
  });

  it('follows subscriptions: a detached member leaves, a replaced one moves, an empty pool is an unknown target', async () => {
    router = new CommandRouter();
    const detachA = router.attach('a', () => undefined, { poolId: 'detectors' });
    router.attach('b', () => undefined, { poolId: 'detectors' });
    router.attach('b', () => undefined, { poolId: 'trackers' });
    expect(router.attachedPools()).toEqual({ detectors: ['a'], trackers: ['b'] });
    detachA();
    expect(router.attachedPools()).toEqual({ trackers: ['b'] });
    const { ack, memberAcks } = await router.send(poolCommand());
    expect(ack.status).toBe(AckStatus.ACK_STATUS_UNKNOWN_TARGET);
    expect(ack.message).toBe('no service or pool "detectors" is subscribed for commands; services: b; pools: trackers (1 member)');
    expect(memberAcks).toEqual([]);
    // The pool's name is free for a service again.
    expect(() => router.attach('detectors', () => undefined)).not.toThrow();
  });

  it('weighs a pool command one pending ack per member against the bounds, one command against its target', async () => {
    router = new CommandRouter({ maxPending: 4, maxPendingPerTarget: 2 });
    const received = attachAll({ a: 'detectors', b: 'detectors', c: 'detectors' });
    void router.send(poolCommand({ requestId: 'p1' }));
    await expect(router.send(poolCommand({ requestId: 'p2' }))).rejects.toThrow(
      new CommandRouterBusyError('detectors', 'the gateway is busy: 3 acknowledgements are awaited; the 3 members of pool "detectors" exceed the limit of 4; retry later'),
    );
    void router.send(command({ requestId: 's1', target: 'a', type: 'worker.set_fps', payloadJson: '{"fps":5}' }));
    expect(router.stats()).toMatchObject({ pending: 4, busy: 1 });
    expect(received.a.map((c) => c.requestId)).toEqual(['p1', 's1']);
    expect(received.b.map((c) => c.requestId)).toEqual(['p1']);
  });

  it('answers the members that have not answered ERROR on close', async () => {
    router = new CommandRouter();
    attachAll({ a: 'detectors', b: 'detectors' });
    const answer = router.send(poolCommand({ timeoutMs: 60_000 }));
    router.acknowledge(ackFrom('a'), 'a');
    router.close();
    const { ack, memberAcks } = await answer;
    expect(ack.status).toBe(AckStatus.ACK_STATUS_ERROR);
    expect(memberAcks.map((m) => [m.responder, m.status, m.message])).toEqual([
      ['a', AckStatus.ACK_STATUS_SUCCESS, 'a ok'],
      ['b', AckStatus.ACK_STATUS_ERROR, 'the gateway shut down before the service acknowledged'],
    ]);
    expect(router.attachedPools()).toEqual({});
  });
});
