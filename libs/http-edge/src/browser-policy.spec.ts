// The gateway's browser rules on plain data: which Origin may use it, and where an upgrade's token is.
import { AllowedOriginError, judgeOrigin, parseAllowedOrigins, upgradeCredentials, WS_BEARER_PROTOCOL_PREFIX, WS_PROTOCOL } from './browser-policy';

const NONE = new Set<string>();

describe('judgeOrigin', () => {
  it('lets programs in (no Origin) and pages of the origin the browser reached (Origin host:port = Host)', () => {
    expect(judgeOrigin({ host: '127.0.0.1:8080' }, NONE)).toEqual({ allowed: true, crossOrigin: undefined });
    expect(judgeOrigin({ origin: 'http://127.0.0.1:8080', host: '127.0.0.1:8080' }, NONE)).toEqual({ allowed: true, crossOrigin: undefined });
    // The scheme's default port is left out of both or either.
    expect(judgeOrigin({ origin: 'https://fw.example.com', host: 'fw.example.com' }, NONE).allowed).toBe(true);
    expect(judgeOrigin({ origin: 'http://fw.example.com', host: 'FW.example.com:80' }, NONE).allowed).toBe(true);
    expect(judgeOrigin({ origin: 'http://[::1]:8080', host: '[::1]:8080' }, NONE).allowed).toBe(true);
  });

  it.each([
    ['another host', 'http://evil.example', '127.0.0.1:8080'],
    ['another port of the same host', 'http://127.0.0.1:9999', '127.0.0.1:8080'],
    ['a default port that is not the one reached', 'https://fw.example.com', 'fw.example.com:8443'],
    ['a sandboxed or file page', 'null', '127.0.0.1:8080'],
    ['junk', '::::', '127.0.0.1:8080'],
    ['a Host with more than host:port', 'http://a.example', 'a.example/x'],
    ['no Host at all', 'http://a.example', undefined],
  ])('refuses a page of %s, naming its origin', (_what, origin, host) => {
    const verdict = judgeOrigin({ origin, host }, NONE);
    expect(verdict).toEqual({ allowed: false, problem: expect.stringContaining(JSON.stringify(origin)) });
  });

  it('lets an allowed origin in as cross-origin (the caller adds CORS), compared as browsers serialize it', () => {
    const allowed = new Set(parseAllowedOrigins('https://ops.example.com'));
    expect(judgeOrigin({ origin: 'https://ops.example.com', host: '10.0.0.5:8080' }, allowed)).toEqual({ allowed: true, crossOrigin: 'https://ops.example.com' });
    expect(judgeOrigin({ origin: 'https://OPS.example.com:443', host: '10.0.0.5:8080' }, allowed)).toEqual({ allowed: true, crossOrigin: 'https://ops.example.com' });
    expect(judgeOrigin({ origin: 'http://ops.example.com', host: '10.0.0.5:8080' }, allowed).allowed).toBe(false);
  });

  it('cuts a long origin in the message', () => {
    const verdict = judgeOrigin({ origin: `http://${'a'.repeat(5000)}.example`, host: 'x' }, NONE);
    expect(!verdict.allowed && verdict.problem.length).toBeLessThan(400);
  });
});

describe('parseAllowedOrigins', () => {
  it('reads a comma-separated list, skipping empty entries', () => {
    expect(parseAllowedOrigins(' https://a.example , ,http://10.0.0.5:3000')).toEqual(['https://a.example', 'http://10.0.0.5:3000']);
    expect(parseAllowedOrigins('')).toEqual([]);
  });

  it.each(['*', 'a.example', 'https://a.example/', 'https://a.example/path', 'https://a.example?x=1', 'https://user@a.example', 'ws://a.example'])(
    'refuses %s, naming it',
    (entry) => {
      expect(() => parseAllowedOrigins(entry)).toThrow(AllowedOriginError);
      expect(() => parseAllowedOrigins(entry)).toThrow(JSON.stringify(entry));
    },
  );
});

describe('upgradeCredentials', () => {
  const bearerProtocol = (token: string) => `${WS_BEARER_PROTOCOL_PREFIX}${Buffer.from(token).toString('base64url')}`;

  it('takes the token from the Authorization header of a program', () => {
    expect(upgradeCredentials({ authorization: 'Bearer abc' })).toEqual({ authorization: 'Bearer abc', protocols: undefined });
  });

  it("takes a browser's token from its subprotocol and hands on the other subprotocols only", () => {
    const token = 'a token with spaces, commas and ünïcode';
    expect(upgradeCredentials({ 'sec-websocket-protocol': `${WS_PROTOCOL}, ${bearerProtocol(token)}` })).toEqual({ authorization: `Bearer ${token}`, protocols: WS_PROTOCOL });
    expect(upgradeCredentials({ 'sec-websocket-protocol': bearerProtocol(token) })).toEqual({ authorization: `Bearer ${token}`, protocols: undefined });
  });

  it('finds no token where there is none', () => {
    expect(upgradeCredentials({ 'sec-websocket-protocol': WS_PROTOCOL })).toEqual({ authorization: undefined, protocols: WS_PROTOCOL });
    expect(upgradeCredentials({})).toEqual({ authorization: undefined, protocols: undefined });
  });
});
