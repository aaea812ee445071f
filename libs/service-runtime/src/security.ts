// Transport security shared by every service: TLS for gRPC when certificates are configured, and a
// bearer token that guards the calls that change things (commands, result publishing). The client
// side (credentials, TLS name override, token metadata) is @framewire/grpc-client's.
import * as grpc from '@grpc/grpc-js';
import { AUTHORIZATION_KEY } from '@framewire/grpc-client';
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Secret, secretBytes, secretTextVariable } from './secret';

/** A shorter token is refused at start-up: it could be guessed. */
export const MIN_TOKEN_LENGTH = 16;

/** The variables of transport security; every service reads them (serviceEnvironment). */
export const securityEnvironment = {
  /** When set, commands and result publishing require `authorization: Bearer <token>`. */
  FW_AUTH_TOKEN: secretTextVariable(MIN_TOKEN_LENGTH),
  /** PEM certificate chain and private key: this service's gRPC server speaks TLS. */
  FW_TLS_CERT: z.string().min(1).optional(),
  FW_TLS_KEY: z.string().min(1).optional(),
  /** PEM CA bundle: this service's outbound gRPC calls use TLS and trust these CAs. */
  FW_TLS_CA: z.string().min(1).optional(),
  /** Host name expected in the servers' certificates, when it differs from the address dialled. */
  FW_TLS_SERVER_NAME: z.string().min(1).optional(),
};

export interface SecurityConfig {
  /** Bearer token required by guarded calls and sent by this service's own calls. */
  token?: Secret<string>;
  /** Server side of TLS (absent: plaintext). */
  serverTls?: ServerTls;
  /** Client side of TLS (absent: plaintext). */
  clientTls?: { rootCerts: Buffer; serverName?: string };
}

/** A TLS server's certificate chain and private key (PEM). */
export interface ServerTls {
  certChain: Buffer;
  privateKey: Secret<Buffer>;
}

/** Thrown by securityConfigFrom for files that cannot be read; names the variable. */
export class SecurityConfigError extends Error {
  readonly code = 'SECURITY_CONFIG_INVALID';
}

function readPem(variable: string, path: string): Buffer {
  // The variables hold paths. A variable given the PEM text itself (a common slip with keys) is
  // refused without echoing it: the text may be the private key.
  if (path.includes('-----BEGIN') || path.includes('\n')) {
    throw new SecurityConfigError(`${variable}: must be the path of a PEM file, not PEM text (got ${path.length} characters of text)`);
  }
  try {
    const pem = readFileSync(path);
    if (!pem.includes('-----BEGIN')) throw new Error('not a PEM file');
    return pem;
  } catch (err) {
    throw new SecurityConfigError(`${variable}: cannot read PEM file ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
}

/** Reads the certificate files named by the variables (once, at start-up). */
export function securityConfigFrom(env: {
  FW_AUTH_TOKEN?: Secret<string>;
  FW_TLS_CERT?: string;
  FW_TLS_KEY?: string;
  FW_TLS_CA?: string;
  FW_TLS_SERVER_NAME?: string;
}): SecurityConfig {
  if ((env.FW_TLS_CERT === undefined) !== (env.FW_TLS_KEY === undefined)) {
    throw new SecurityConfigError('FW_TLS_CERT and FW_TLS_KEY: set both or neither');
  }
  return Object.freeze({
    token: env.FW_AUTH_TOKEN,
    serverTls:
      env.FW_TLS_CERT === undefined || env.FW_TLS_KEY === undefined
        ? undefined
        : { certChain: readPem('FW_TLS_CERT', env.FW_TLS_CERT), privateKey: secretBytes(readPem('FW_TLS_KEY', env.FW_TLS_KEY), env.FW_TLS_KEY) },
    clientTls: env.FW_TLS_CA === undefined ? undefined : { rootCerts: readPem('FW_TLS_CA', env.FW_TLS_CA), serverName: env.FW_TLS_SERVER_NAME },
  });
}

function tokensEqual(given: string, expected: Secret<string>): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected.reveal());
  // timingSafeEqual needs equal lengths; comparing b with itself keeps the time independent of `given`.
  return a.length === b.length ? timingSafeEqual(a, b) : !timingSafeEqual(b, b);
}

/**
 * Checks an `authorization` value (HTTP header or gRPC metadata) against the configured token.
 * Returns undefined when the call may proceed, else the reason it may not (for the error message).
 */
export function bearerTokenProblem(authorization: string | undefined, token: Secret<string> | undefined): string | undefined {
  if (token === undefined) return undefined;
  if (authorization === undefined || authorization === '') return `missing bearer token: send "${AUTHORIZATION_KEY}: Bearer <token>"`;
  const match = /^Bearer (.+)$/i.exec(authorization.trim());
  if (match === null) return `malformed ${AUTHORIZATION_KEY} value: expected "Bearer <token>"`;
  return tokensEqual(match[1], token) ? undefined : 'wrong bearer token';
}

/** For a guarded gRPC call: an UNAUTHENTICATED error when the token is missing or wrong, else undefined. */
export function unauthenticatedError(metadata: grpc.Metadata, token: Secret<string> | undefined): grpc.ServiceError | undefined {
  const values = metadata.get(AUTHORIZATION_KEY);
  const problem = bearerTokenProblem(typeof values[0] === 'string' ? values[0] : undefined, token);
  if (problem === undefined) return undefined;
  const error = new Error(problem) as grpc.ServiceError;
  Object.assign(error, { code: grpc.status.UNAUTHENTICATED, details: problem, metadata: new grpc.Metadata() });
  return error;
}
