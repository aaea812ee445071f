import { ConsoleLogger } from '@nestjs/common';
import { checkHealth, HealthWatch, idleHttp2Connection, silencingProxy, silentConnection, waitFor, watchHealth } from '@framewire/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConnectionLimits } from './connection-limits';
import { GrpcServerHost } from './grpc-server';
import { secretBytes } from './secret';

const FIXTURES = join(__dirname, '..', 'test-fixtures');
const CERT = readFileSync(join(FIXTURES, 'localhost.crt'));
const KEY = join(FIXTURES, 'localhost.key');
const TLS = { certChain: CERT, privateKey: secretBytes(readFileSync(KEY), KEY) };
/** Bounds small enough for a test; the waits below are ten times as long, for a loaded machine. */
const LIMITS: ConnectionLimits = { handshakeTimeoutMs: 300, idleTimeoutMs: 1_000, keepaliveMs: 300, maxConnections: 64 };
const WAIT_MS = 10 * LIMITS.idleTimeoutMs;

const logger = new ConsoleLogger('test', { logLevels: [] });

describe('the gRPC listener', () => {
  const hosts: GrpcServerHost[] = [];
  const watches: HealthWatch[] = [];
  const track = (watch: HealthWatch) => (watches.push(watch), watch);

  async function startHost(options: { limits?: ConnectionLimits; tls?: typeof TLS } = {}): Promise<GrpcServerHost> {
    const host = new GrpcServerHost({ host: '127.0.0.1', port: 0, protoFiles: [], services: [], logger, limits: options.limits ?? LIMITS, tls: options.tls, drainTimeoutMs: 200 });
    hosts.push(host);
    await host.start();
    return host;
  }

  afterEach(async () => {
    for (const w of watches.splice(0)) w.cancel();
    await Promise.all(hosts.splice(0).map((h) => h.stop()));
  });

  it.each([
    ['plaintext', undefined],
    ['TLS', TLS],
  ])('closes a %s connection that sends nothing once the handshake bound passes', async (_name, tls) => {
    const host = await startHost({ tls });
    await expect(silentConnection(host.port, { waitMs: WAIT_MS })).resolves.toBe('closed by the server');
    expect(host.listener.counters).toEqual({ handshakeTimedOut: 1, notGrpc: 0, refusedOverCap: 0 });
  });

  it('closes a connection that completes TLS but never sends the HTTP/2 preface', async () => {
    const host = await startHost({ tls: TLS });
    await expect(silentConnection(host.port, { tlsCa: CERT, waitMs: WAIT_MS })).resolves.toBe('closed by the server');
    expect(host.listener.counters).toEqual({ handshakeTimedOut: 1, notGrpc: 0, refusedOverCap: 0 });
  });

  it('counts a connection that fails the TLS handshake as not gRPC', async () => {
    const host = await startHost({ tls: TLS, limits: { ...LIMITS, handshakeTimeoutMs: 60_000 } });
    await expect(silentConnection(host.port, { send: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', waitMs: WAIT_MS })).resolves.toBe('closed by the server');
    await waitFor('the count', () => host.listener.counters.notGrpc === 1, WAIT_MS);
    expect(host.listener.counters).toEqual({ handshakeTimedOut: 0, notGrpc: 1, refusedOverCap: 0 });
  });

  it('closes a connection whose first bytes are not HTTP/2, without waiting for the bound', async () => {
    const host = await startHost({ limits: { ...LIMITS, handshakeTimeoutMs: 60_000 } });
    await expect(silentConnection(host.port, { send: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', waitMs: WAIT_MS })).resolves.toBe('closed by the server');
    expect(host.listener.counters).toMatchObject({ notGrpc: 1, handshakeTimedOut: 0 });
  });

  it.each([
    ['plaintext', undefined],
    ['TLS', TLS],
  ])('closes a %s HTTP/2 connection that makes no call once the idle bound passes', async (_name, tls) => {
    const host = await startHost({ tls });
    await expect(idleHttp2Connection(host.port, { tlsCa: tls === undefined ? undefined : CERT, waitMs: WAIT_MS })).resolves.toBe('closed by the server');
  });

  it('keeps a quiet stream open past the idle bound while its peer answers pings', async () => {
    const host = await startHost();
    const watch = track(watchHealth(`127.0.0.1:${host.port}`));
    await waitFor('the first status', () => watch.statuses.length === 1, WAIT_MS);
    // Three idle bounds and many pings pass without a message on the stream.
    await new Promise((r) => setTimeout(r, 3 * LIMITS.idleTimeoutMs));
    host.setServing('NOT_SERVING');
    await waitFor('the status change on the same stream', () => watch.statuses.length === 2 || watch.error !== undefined, WAIT_MS);
    expect({ statuses: watch.statuses, error: watch.error }).toEqual({ statuses: ['SERVING', 'NOT_SERVING'], error: undefined });
  });

  it('closes the connection of a peer that stops answering pings, ending its stream', async () => {
    const host = await startHost();
    const proxy = await silencingProxy(host.port);
    try {
      const watch = track(watchHealth(`127.0.0.1:${proxy.port}`));
      await waitFor('the first status', () => watch.statuses.length === 1, WAIT_MS);
      proxy.goSilent();
      await expect(Promise.race([proxy.targetClosedAll().then(() => 'closed'), new Promise((r) => setTimeout(() => r('open'), WAIT_MS))])).resolves.toBe('closed');
    } finally {
      await proxy.close();
    }
  });

  it('refuses connections beyond the cap, and serves again once one closes', async () => {
    const host = await startHost({ limits: { ...LIMITS, handshakeTimeoutMs: 60_000, maxConnections: 2 } });
    const held = [silentConnection(host.port, { waitMs: WAIT_MS }), silentConnection(host.port, { waitMs: 100 })];
    await new Promise((r) => setTimeout(r, 50));
    await expect(silentConnection(host.port, { waitMs: WAIT_MS })).resolves.toBe('closed by the server');
    expect(host.listener.counters.refusedOverCap).toBe(1);
    // The second held connection gives up after 100 ms: a call finds room again.
    await expect(held[1]).resolves.toBe('still open');
    await expect(checkHealth(host.port)).resolves.toBe('SERVING');
    host.listener.stopAccepting();
    await expect(held[0]).resolves.toBe('closed by the server');
  });
});
