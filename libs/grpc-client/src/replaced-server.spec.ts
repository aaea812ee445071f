// A server replaced at a new address under the same name, as an orchestrator does it (Swarm's dnsrr,
// a headless Service). (1) The name stops resolving, then resolves to the new address: a channel with
// RECONNECT_CHANNEL_OPTIONS looks the name up again while it cannot connect and finds the new server;
// one with grpc-js's defaults, side by side, has not yet (it looks a name up again at most every
// 30 s). (2) The old address swallows the connection attempt (a Swarm overlay does that to a killed
// task's address; here a server that accepts TCP and never answers HTTP/2): the ConnectDeadlineChannel
// gives the attempt up, looks the name up again and connects to the new server; a plain channel,
// side by side, is still waiting. Real gRPC servers on 127.0.0.1 and 127.0.0.2, a real DNS server on
// loopback answering the channels' queries (grpc-js's DNS resolver, pointed at it by the target).
import { restoreResolverEnv } from './test-support/use-own-dns-server';
import * as grpc from '@grpc/grpc-js';
import { createSocket, RemoteInfo, Socket } from 'node:dgram';
import { createServer, Server as NetServer, Socket as NetSocket } from 'node:net';
import { RECONNECT_CHANNEL_OPTIONS, waitForChannelReady } from './channel';
import { ConnectDeadlineChannel, connectDeadlineChannelFactory } from './connect-deadline-channel';

restoreResolverEnv();

const NAME = 'supplier.framewire.test';
const TYPE_A = 1;
const RCODE_NXDOMAIN = 3;

/** Answers A queries for NAME with `address` (none: NXDOMAIN), every other query with no records;
 *  counts the A queries it answered. */
class LoopbackDns {
  address: string | undefined;
  aQueries = 0;
  private readonly socket: Socket = createSocket('udp4');

  async start(): Promise<number> {
    this.socket.on('message', (query, from) => this.answer(query, from));
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    return this.socket.address().port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private answer(query: Buffer, from: RemoteInfo): void {
    // The question: labels from byte 12 up to the zero length, then type and class.
    let at = 12;
    const labels: string[] = [];
    while (at < query.length && query[at] !== 0) {
      labels.push(query.subarray(at + 1, at + 1 + query[at]).toString('ascii'));
      at += 1 + query[at];
    }
    const questionEnd = at + 5;
    if (questionEnd > query.length) return;
    const type = query.readUInt16BE(at + 1);
    const isName = labels.join('.').toLowerCase() === NAME;
    const address = isName && type === TYPE_A ? this.address : undefined;
    if (isName && type === TYPE_A) this.aQueries++;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // id
    const rcode = isName && (type !== TYPE_A || address !== undefined) ? 0 : RCODE_NXDOMAIN;
    header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2); // QR AA RD RA
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(address === undefined ? 0 : 1, 6);
    const parts = [header, query.subarray(12, questionEnd)];
    if (address !== undefined) {
      const record = Buffer.alloc(16);
      record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      record.writeUInt16BE(TYPE_A, 2);
      record.writeUInt16BE(1, 4); // IN
      record.writeUInt32BE(0, 6); // TTL
      record.writeUInt16BE(4, 10);
      address.split('.').forEach((octet, i) => record.writeUInt8(Number(octet), 12 + i));
      parts.push(record);
    }
    this.socket.send(Buffer.concat(parts), from.port, from.address);
  }
}

function startServer(host: string, port: number): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  return new Promise((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve({ server, port: bound }))),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Both channels are asked to connect (as a client's next call does) until `first` is ready or
 *  `other` is (which the tests expect not to happen first). */
async function askUntilOneIsReady(first: grpc.Client, other: grpc.Client): Promise<{ firstReady: boolean; otherReady: boolean }> {
  const ready = { firstReady: false, otherReady: false };
  const done = () => ready.firstReady || ready.otherReady;
  const keepAsking = async (client: grpc.Client, key: keyof typeof ready) => {
    while (!done()) if ((await waitForChannelReady(client, 250)) === undefined) ready[key] = true;
  };
  await Promise.all([keepAsking(first, 'firstReady'), keepAsking(other, 'otherReady')]);
  return ready;
}

describe('a server replaced at a new address under the same name', () => {
  let dns: LoopbackDns;
  let dnsPort: number;
  const clients: grpc.Client[] = [];
  const servers: grpc.Server[] = [];
  beforeEach(async () => {
    dns = new LoopbackDns();
    dnsPort = await dns.start();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) s.forceShutdown();
    await dns.close();
  });

  it('is found by a channel with RECONNECT_CHANNEL_OPTIONS, before one with grpc-js defaults looks the name up again', async () => {
    const first = await startServer('127.0.0.1', 0);
    servers.push(first.server);
    dns.address = '127.0.0.1';
    const target = `dns://127.0.0.1:${dnsPort}/${NAME}:${first.port}`;
    const ours = new grpc.Client(target, grpc.credentials.createInsecure(), { ...RECONNECT_CHANNEL_OPTIONS });
    const defaults = new grpc.Client(target, grpc.credentials.createInsecure(), {});
    clients.push(ours, defaults);
    expect(await waitForChannelReady(ours, 10_000)).toBeUndefined();
    expect(await waitForChannelReady(defaults, 10_000)).toBeUndefined();
    const queriesBefore = dns.aQueries;

    // Replaced: the old server gone, the name resolving to nothing for a while, then to the new one.
    dns.address = undefined;
    first.server.forceShutdown();
    await sleep(1_500);
    const second = await startServer('127.0.0.2', first.port);
    servers.push(second.server);
    dns.address = '127.0.0.2';

    expect(await askUntilOneIsReady(ours, defaults)).toEqual({ firstReady: true, otherReady: false });
    // Ours found it by looking the name up again, not by replacing its channel.
    expect(dns.aQueries).toBeGreaterThan(queriesBefore);
    expect((ours.getChannel() as ConnectDeadlineChannel).replacements).toBe(0);
    expect(ours.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
  }, 30_000);

  it('gives up a connection attempt that gets no answer, and connects to the name\'s new address', async () => {
    // The old address: TCP accepted, then silence (grpc-js waits for the server's HTTP/2 SETTINGS).
    const accepted: NetSocket[] = [];
    const silent: NetServer = createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      dns.address = '127.0.0.1';
      const target = `dns://127.0.0.1:${dnsPort}/${NAME}:${port}`;
      const ours = new grpc.Client(target, grpc.credentials.createInsecure(), { ...RECONNECT_CHANNEL_OPTIONS, channelFactoryOverride: connectDeadlineChannelFactory(1_000) });
      const { channelFactoryOverride: _, ...withoutDeadline } = RECONNECT_CHANNEL_OPTIONS;
      const plain = new grpc.Client(target, grpc.credentials.createInsecure(), withoutDeadline);
      clients.push(ours, plain);
      expect(await waitForChannelReady(ours, 300)).toBeInstanceOf(Error);
      expect(await waitForChannelReady(plain, 300)).toBeInstanceOf(Error);
      expect(accepted.length).toBeGreaterThan(0);

      // Replaced: the name now gives the new server's address.
      servers.push((await startServer('127.0.0.2', port)).server);
      dns.address = '127.0.0.2';
      expect(await askUntilOneIsReady(ours, plain)).toEqual({ firstReady: true, otherReady: false });
      expect((ours.getChannel() as ConnectDeadlineChannel).replacements).toBeGreaterThanOrEqual(1);
      // The plain channel is still waiting for the silent server's answer.
      expect(plain.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.CONNECTING);
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 30_000);

  it('leaves a ready channel and an idle one alone, and closes for good', async () => {
    const server = await startServer('127.0.0.1', 0);
    servers.push(server.server);
    dns.address = '127.0.0.1';
    const channel = new ConnectDeadlineChannel(`dns://127.0.0.1:${dnsPort}/${NAME}:${server.port}`, grpc.credentials.createInsecure(), {}, 200);
    const idle = new ConnectDeadlineChannel(`dns://127.0.0.1:${dnsPort}/${NAME}:${server.port}`, grpc.credentials.createInsecure(), {}, 200);
    const client = new grpc.Client('unused', grpc.credentials.createInsecure(), { channelOverride: channel });
    clients.push(client);
    expect(await waitForChannelReady(client, 10_000)).toBeUndefined();
    await sleep(600);
    expect(channel.getConnectivityState(false)).toBe(grpc.connectivityState.READY);
    expect({ ready: channel.replacements, idle: idle.replacements }).toEqual({ ready: 0, idle: 0 });
    expect(idle.getConnectivityState(false)).toBe(grpc.connectivityState.IDLE);
    idle.close();
    channel.close();
    expect(channel.getConnectivityState(false)).toBe(grpc.connectivityState.SHUTDOWN);
    expect(() => channel.watchConnectivityState(grpc.connectivityState.SHUTDOWN, Date.now() + 1000, () => undefined)).toThrow(/shut down/);
  });

  it('refuses a connect timeout that is not positive', () => {
    expect(() => new ConnectDeadlineChannel('127.0.0.1:1', grpc.credentials.createInsecure(), {}, 0)).toThrow(/connectTimeoutMs must be > 0/);
  });
});
