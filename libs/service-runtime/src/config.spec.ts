import { z } from 'zod';
import { ConfigError, integerVariable, portVariable, readEnvironment, serviceConfigFrom, serviceEnvironment } from './config';

const shape = {
  ...serviceEnvironment,
  FW_GRPC_PORT: portVariable(50052),
  FW_MODE: z.enum(['fast', 'safe']).default('safe'),
  FW_FPS: integerVariable(1, 240, 15),
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    readEnvironment(shape, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('readEnvironment', () => {
  it('applies defaults when variables are unset or empty', () => {
    const e = readEnvironment(shape, { FW_FPS: '' });
    expect(e).toMatchObject({ FW_LOG_LEVEL: 'info', FW_GRPC_PORT: 50052, FW_MODE: 'safe', FW_FPS: 15 });
  });

  it('parses and types the values it reads', () => {
    const e = readEnvironment(shape, { FW_GRPC_PORT: '0', FW_FPS: '30', FW_MODE: 'fast', FW_LOG_LEVEL: 'debug' });
    expect(e.FW_GRPC_PORT).toBe(0);
    expect(e.FW_FPS).toBe(30);
    expect(e.FW_MODE).toBe('fast');
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(readEnvironment(shape, {}))).toBe(true);
  });

  it('names the variable and the accepted values of an enum', () => {
    expect(problemsOf({ FW_MODE: 'turbo' })).toEqual(['FW_MODE: must be one of "fast", "safe" (got "turbo")']);
  });

  it('names the variable and the bound of a number out of range', () => {
    expect(problemsOf({ FW_FPS: '0' })).toEqual(['FW_FPS: must be >=1 (got "0")']);
    expect(problemsOf({ FW_GRPC_PORT: '65536' })).toEqual(['FW_GRPC_PORT: must be <=65535 (got "65536")']);
  });

  it('rejects text and fractions where a whole number is expected', () => {
    expect(problemsOf({ FW_FPS: 'ten' })).toEqual(['FW_FPS: must be a number (got "ten")']);
    expect(problemsOf({ FW_FPS: '2.5' })).toEqual(['FW_FPS: must be a whole number (got "2.5")']);
  });

  it('reports every bad variable at once', () => {
    expect(problemsOf({ FW_MODE: 'x', FW_FPS: '999', FW_LOG_LEVEL: 'loud' })).toHaveLength(3);
  });
});

describe('serviceConfigFrom', () => {
  it('logs as text on a terminal and as JSON otherwise, unless told', () => {
    const e = readEnvironment(serviceEnvironment, {});
    expect(serviceConfigFrom('s', 1, e, true).logFormat).toBe('text');
    expect(serviceConfigFrom('s', 1, e, false).logFormat).toBe('json');
    const forced = readEnvironment(serviceEnvironment, { FW_LOG_FORMAT: 'json' });
    expect(serviceConfigFrom('s', 1, forced, true).logFormat).toBe('json');
  });
});
