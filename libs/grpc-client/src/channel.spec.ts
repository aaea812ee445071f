// Channel readiness against a real server on loopback, one that is not there, and an abort; the
// token and TLS settings turned into metadata and channel options.
import * as grpc from '@grpc/grpc-js';
import { channelOptions, RECONNECT_CHANNEL_OPTIONS, tokenMetadata, waitForChannelReady } from './channel';

describe('waitForChannelReady', () => {
  let server: grpc.Server;
  let port: number;
  beforeAll(async () => {
    server = new grpc.Server();
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
  });
  afterAll(() => server.forceShutdown());

  it('resolves undefined once a server answers', async () => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      await expect(waitForChannelReady(client, 5_000)).resolves.toBeUndefined();
    } finally {
      client.close();
    }
  });

  it('resolves with the error when nothing answers before the deadline', async () => {
    const closed = new grpc.Server();
    const freePort = await new Promise<number>((resolve, reject) =>
      closed.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    closed.forceShutdown();
    const client = new grpc.Client(`127.0.0.1:${freePort}`, grpc.credentials.createInsecure());
    try {
      const error = await waitForChannelReady(client, 200);
      expect(error).toBeInstanceOf(Error);
    } finally {
      client.close();
    }
  });

  it('resolves with the abort reason when its signal aborts, and at once when it was aborted already', async () => {
    const client = new grpc.Client('127.0.0.1:1', grpc.credentials.createInsecure());
    const abort = new AbortController();
    try {
      const waiting = waitForChannelReady(client, 1_000, abort.signal);
      abort.abort(new Error('publisher closed'));
      await expect(waiting).resolves.toEqual(new Error('publisher closed'));
      await expect(waitForChannelReady(client, 1_000, abort.signal)).resolves.toEqual(new Error('publisher closed'));
    } finally {
      client.close();
    }
  });
});

describe('client security', () => {
  it('sends the token as a bearer authorization, and nothing without one', () => {
    expect(tokenMetadata({ reveal: () => 'a-token-of-24-characters' }).get('authorization')).toEqual(['Bearer a-token-of-24-characters']);
    expect(tokenMetadata(undefined).get('authorization')).toEqual([]);
  });

  it('overrides the TLS name only when one is configured', () => {
    expect(channelOptions({})).toEqual(RECONNECT_CHANNEL_OPTIONS);
    expect(channelOptions({ clientTls: { rootCerts: Buffer.alloc(0), serverName: 'supplier' } })).toEqual({
      ...RECONNECT_CHANNEL_OPTIONS,
      'grpc.ssl_target_name_override': 'supplier',
      'grpc.default_authority': 'supplier',
    });
  });
});
