// The token and requests without a browser: the fragment, the header, the subprotocols, 401s.
import { GatewayHttp, HTTP_UNAUTHORIZED, socketProtocols, storedToken, takeTokenFromFragment, TOKEN_STORAGE_KEY, webSocketUrl, WS_BEARER_PROTOCOL_PREFIX, WS_PROTOCOL } from './gateway-access';
import { fakeFetch, memoryStorage } from './testing/fakes';

describe('the token', () => {
  it('is taken from the fragment into storage, and the rest of the fragment is kept', () => {
    const storage = memoryStorage();
    expect(takeTokenFromFragment('view=1&token=s3cret%2Fx', storage)).toBe('view=1');
    expect(storedToken(storage)).toBe('s3cret/x');
    expect(takeTokenFromFragment('token=abc', storage)).toBe('');
  });

  it('leaves storage and the fragment alone when the fragment has no token, and stores no empty one', () => {
    const storage = memoryStorage({ [TOKEN_STORAGE_KEY]: 'kept' });
    expect(takeTokenFromFragment('view=1', storage)).toBeUndefined();
    expect(takeTokenFromFragment('token=', storage)).toBe('');
    expect(storedToken(storage)).toBe('kept');
  });

  it('rides in a base64url subprotocol that decodes back to it, beside framewire.v1', () => {
    expect(socketProtocols('')).toEqual([WS_PROTOCOL]);
    const token = 'ä?>~/+ token==';
    const [first, second] = socketProtocols(token);
    expect(first).toBe(WS_PROTOCOL);
    const encoded = second.slice(WS_BEARER_PROTOCOL_PREFIX.length);
    expect(second.startsWith(WS_BEARER_PROTOCOL_PREFIX)).toBe(true);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(encoded, 'base64url').toString('utf8')).toBe(token);
  });
});

describe('webSocketUrl', () => {
  it('uses wss on an https page and the page host', () => {
    expect(webSocketUrl({ protocol: 'https:', host: 'h:1' }, '/ws?stream=a')).toBe('wss://h:1/ws?stream=a');
    expect(webSocketUrl({ protocol: 'http:', host: 'h:2' }, '/ws/video')).toBe('ws://h:2/ws/video');
  });
});

describe('GatewayHttp', () => {
  const client = (answer: Parameters<typeof fakeFetch>[0], token = '') => {
    const f = fakeFetch(answer);
    let unauthorized = 0;
    const http = new GatewayHttp({ fetch: f.fetch, token: () => token, onUnauthorized: () => unauthorized++ });
    return { http, calls: f.calls, unauthorized: () => unauthorized };
  };

  it('sends the token as a bearer header, and none without a token, with a timeout signal', async () => {
    const withToken = client({ status: 200, body: { ok: 1 } }, 'tok');
    expect(await withToken.http.getJson('/api/stats')).toEqual({ status: 200, body: { ok: 1 } });
    expect(withToken.calls[0].init.headers).toEqual({ authorization: 'Bearer tok' });
    expect(withToken.calls[0].init.signal).toBeInstanceOf(AbortSignal);
    const without = client({ status: 200, body: {} });
    await without.http.getJson('/api/stats');
    expect(without.calls[0].init.headers).toEqual({});
  });

  it('reports a 401 and still answers its body', async () => {
    const c = client({ status: HTTP_UNAUTHORIZED, body: { error: 'token required', field: 'authorization' } });
    expect(await c.http.getJson('/api/health')).toEqual({ status: 401, body: { error: 'token required', field: 'authorization' } });
    expect(c.unauthorized()).toBe(1);
  });

  it('posts JSON with its content type and the token', async () => {
    const c = client({ status: 200, body: {} }, 'tok');
    await c.http.postJson('/api/commands', { a: 1 });
    expect(c.calls[0]).toMatchObject({ path: '/api/commands', init: { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json', authorization: 'Bearer tok' } } });
  });
});
