// Service configuration: read once from the environment at start-up, validated, typed, frozen.
import { z } from 'zod';
import { integerVariable } from './config-variables';
import { ConnectionLimits, connectionEnvironment, connectionLimitsFrom } from './connection-limits';
import { shownValueOf } from './secret';
import { SecurityConfig, SecurityConfigError, securityConfigFrom, securityEnvironment } from './security';

/** One or more environment variables had unacceptable values; start-up must stop. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Default bound on a graceful shutdown before the process exits anyway. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

export { integerVariable, portVariable } from './config-variables';

/** The variables every service reads; each app adds its own. */
export const serviceEnvironment = {
  FW_LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  FW_LOG_FORMAT: z.enum(LOG_FORMATS).optional(),
  FW_GRPC_HOST: z.string().min(1).default('0.0.0.0'),
  FW_SHUTDOWN_TIMEOUT_MS: integerVariable(100, 600_000, DEFAULT_SHUTDOWN_TIMEOUT_MS),
  ...connectionEnvironment,
  ...securityEnvironment,
};

/** What every service's configuration holds. */
export interface ServiceConfig {
  serviceName: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  grpcHost: string;
  grpcPort: number;
  shutdownTimeoutMs: number;
  /** Handshake, idle and keepalive bounds and the connection cap of its gRPC and HTTP ports. */
  connectionLimits: ConnectionLimits;
  /** Token and TLS (docs/security.md). */
  security: SecurityConfig;
}

function describeIssue(issue: z.core.$ZodIssue, env: Record<string, string | undefined>, shape: z.ZodRawShape): string {
  const name = String(issue.path[0] ?? '(environment)');
  const raw = env[name];
  // A secret's value is never echoed, not even a wrong one (it may be the real one, mistyped).
  const got = raw === undefined ? 'unset' : `got ${shownValueOf(shape[name], raw)}`;
  if (issue.code === 'invalid_value') {
    return `${name}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')} (${got})`;
  }
  if (issue.code === 'too_small' || issue.code === 'too_big') {
    return `${name}: ${issue.message.replace(/^Too (small|big): expected (number|string) to (be |have )?/, 'must be ')} (${got})`;
  }
  if (issue.code === 'invalid_type' && issue.expected === 'number') {
    return `${name}: must be a number (${got})`;
  }
  if (issue.code === 'invalid_type' && issue.expected === 'int') {
    return `${name}: must be a whole number (${got})`;
  }
  return `${name}: ${issue.message} (${got})`;
}

/**
 * Reads and validates the variables of `shape` from `env`. Unknown variables are ignored; every
 * problem is reported at once in a ConfigError naming each variable and what it accepts.
 */
export function readEnvironment<S extends z.ZodRawShape>(
  shape: S,
  env: Record<string, string | undefined> = process.env,
): Readonly<z.infer<z.ZodObject<S>>> {
  const present: Record<string, string> = {};
  for (const key of Object.keys(shape)) {
    const value = env[key];
    // An empty variable counts as unset, as in most shells' `FOO= cmd`.
    if (value !== undefined && value !== '') present[key] = value;
  }
  const parsed = z.object(shape).safeParse(present);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => describeIssue(i, env, shape)));
  return Object.freeze(parsed.data) as Readonly<z.infer<z.ZodObject<S>>>;
}

function securityFrom(env: Readonly<z.infer<z.ZodObject<typeof serviceEnvironment>>>): SecurityConfig {
  try {
    return securityConfigFrom(env);
  } catch (err) {
    if (err instanceof SecurityConfigError) throw new ConfigError([err.message]);
    throw err;
  }
}

/** The common part of a service's configuration, from the variables of serviceEnvironment. */
export function serviceConfigFrom(
  serviceName: string,
  grpcPort: number,
  env: Readonly<z.infer<z.ZodObject<typeof serviceEnvironment>>>,
  isTerminal: boolean = process.stdout.isTTY === true,
): ServiceConfig {
  return {
    serviceName,
    logLevel: env.FW_LOG_LEVEL,
    logFormat: env.FW_LOG_FORMAT ?? (isTerminal ? 'text' : 'json'),
    grpcHost: env.FW_GRPC_HOST,
    grpcPort,
    shutdownTimeoutMs: env.FW_SHUTDOWN_TIMEOUT_MS,
    connectionLimits: connectionLimitsFrom(env),
    security: securityFrom(env),
  };
}
