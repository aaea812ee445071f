import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, readEnvironment, serviceConfigFrom, serviceEnvironment } from './config';
import { GrpcServerHost } from './grpc-server';
import { secretText } from './secret';
import { channelCredentials, channelOptions, checkHealth, tokenMetadata, WHOLE_SERVER } from '@framewire/grpc-client';
import { bearerTokenProblem, unauthenticatedError } from './security';
import { createServiceLogger } from './logging';

const FIXTURES = join(__dirname, '..', 'test-fixtures');
const CERT = join(FIXTURES, 'localhost.crt');
const KEY = join(FIXTURES, 'localhost.key');
const TOKEN = 'a-token-of-sufficient-length';
const SECRET_TOKEN = secretText(TOKEN);

function configFrom(env: Record<string, string>) {
  return serviceConfigFrom('test', 0, readEnvironment(serviceEnvironment, env), false);
}

describe('security configuration', () => {
  it('is plaintext without a token when nothing is set', () => {
    const { security } = configFrom({});
    expect(security).toEqual({ token: undefined, serverTls: undefined, clientTls: undefined });
  });

  it('refuses a short token, naming the variable and its length but never the token', () => {
    expect(() => configFrom({ FW_AUTH_TOKEN: 'hunter2-short' })).toThrow('FW_AUTH_TOKEN: must be at least 16 characters (got 13 characters)');
    expect(() => configFrom({ FW_AUTH_TOKEN: 'hunter2-short' })).not.toThrow(/hunter2/);
  });

  it('holds the token and the private key as Secrets, so the configuration prints without them', () => {
    const config = configFrom({ FW_AUTH_TOKEN: TOKEN, FW_TLS_CERT: CERT, FW_TLS_KEY: KEY });
    expect(config.security.token?.reveal()).toBe(TOKEN);
    const keyBody = readFileSync(KEY, 'utf8').split('\n')[1];
    expect(config.security.serverTls?.privateKey.reveal().toString()).toContain(keyBody);
    const printed = JSON.stringify(config);
    expect(printed).not.toContain(TOKEN);
    expect(printed).not.toContain(keyBody);
    expect(printed).toContain(`"privateKey":"set (${readFileSync(KEY).length} bytes, from ${KEY})"`);
  });

  it('refuses a certificate without its key', () => {
    expect(() => configFrom({ FW_TLS_CERT: CERT })).toThrow(ConfigError);
    expect(() => configFrom({ FW_TLS_CERT: CERT })).toThrow(/FW_TLS_CERT and FW_TLS_KEY/);
  });

  it('refuses PEM text where a file path belongs, without echoing the text', () => {
    const pemText = readFileSync(KEY, 'utf8');
    expect(() => configFrom({ FW_TLS_CERT: CERT, FW_TLS_KEY: pemText })).toThrow(`FW_TLS_KEY: must be the path of a PEM file, not PEM text (got ${pemText.length} characters of text)`);
    expect(() => configFrom({ FW_TLS_CERT: CERT, FW_TLS_KEY: pemText })).not.toThrow(pemText.split('\n')[1]);
  });

  it('names the variable of a certificate file that cannot be read', () => {
    expect(() => configFrom({ FW_TLS_CA: '/nonexistent/ca.pem' })).toThrow(/FW_TLS_CA: cannot read PEM file "\/nonexistent\/ca.pem"/);
    expect(() => configFrom({ FW_TLS_CERT: __filename, FW_TLS_KEY: KEY })).toThrow(/FW_TLS_CERT: .*not a PEM file/);
  });
});

describe('bearerTokenProblem', () => {
  it('lets everything through when no token is configured', () => {
    expect(bearerTokenProblem(undefined, undefined)).toBeUndefined();
    expect(bearerTokenProblem('Bearer whatever', undefined)).toBeUndefined();
  });

  it.each([
    [undefined, /missing bearer token/],
    ['', /missing bearer token/],
    [TOKEN, /malformed authorization value/],
    ['Basic abc', /malformed authorization value/],
    ['Bearer wrong-token-of-sufficient-length', /wrong bearer token/],
    [`Bearer ${TOKEN}x`, /wrong bearer token/],
  ])('refuses %p', (given, problem) => {
    expect(bearerTokenProblem(given, SECRET_TOKEN)).toMatch(problem);
  });

  it('accepts the right token, with any case of "Bearer"', () => {
    expect(bearerTokenProblem(`Bearer ${TOKEN}`, SECRET_TOKEN)).toBeUndefined();
    expect(bearerTokenProblem(`bearer ${TOKEN}`, SECRET_TOKEN)).toBeUndefined();
  });

  it('checks gRPC metadata into an UNAUTHENTICATED error', () => {
    expect(unauthenticatedError(tokenMetadata(SECRET_TOKEN), SECRET_TOKEN)).toBeUndefined();
    const err = unauthenticatedError(tokenMetadata(undefined), SECRET_TOKEN);
    expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err?.details).toMatch(/missing bearer token/);
  });
});

describe('TLS for gRPC', () => {
  const logger = createServiceLogger('test', 'error', 'json');
  let host: GrpcServerHost;

  beforeAll(async () => {
    const { security } = configFrom({ FW_TLS_CERT: CERT, FW_TLS_KEY: KEY });
    host = new GrpcServerHost({ host: '127.0.0.1', port: 0, protoFiles: [], services: [], logger, tls: security.serverTls });
    await host.start();
  });
  afterAll(() => host.stop());

  async function check(security: ReturnType<typeof configFrom>['security'], address: string): Promise<string> {
    return checkHealth(address, WHOLE_SERVER, { credentials: channelCredentials(security), channelOptions: channelOptions(security), deadlineMs: 3_000 }).catch(
      (err: grpc.ServiceError) => `error ${grpc.status[err.code]}`,
    );
  }

  it('serves a client that trusts the certificate', async () => {
    const { security } = configFrom({ FW_TLS_CA: CERT });
    await expect(check(security, `localhost:${host.port}`)).resolves.toBe('SERVING');
  });

  it('verifies the server name, which FW_TLS_SERVER_NAME can override', async () => {
    const { security } = configFrom({ FW_TLS_CA: CERT, FW_TLS_SERVER_NAME: 'localhost' });
    // 127.0.0.1 is in the certificate too; the override is what the handshake checks.
    await expect(check(security, `127.0.0.1:${host.port}`)).resolves.toBe('SERVING');
    const wrongName = configFrom({ FW_TLS_CA: CERT, FW_TLS_SERVER_NAME: 'example.org' }).security;
    await expect(check(wrongName, `127.0.0.1:${host.port}`)).resolves.toBe('error UNAVAILABLE');
  });

  it('does not serve a plaintext client', async () => {
    await expect(check(configFrom({}).security, `localhost:${host.port}`)).resolves.toBe('error UNAVAILABLE');
  });
});
