import { format, inspect } from 'node:util';
import { z } from 'zod';
import { ConfigError, readEnvironment } from './config';
import { secretBytes, secretText, secretTextVariable, shownInErrorsAs, shownValueOf } from './secret';

const VALUE = 'hunter2-the-token-value';

describe('Secret', () => {
  const secret = secretText(VALUE);

  it('gives its value only through reveal()', () => {
    expect(secret.reveal()).toBe(VALUE);
  });

  it('prints as its description everywhere a value is turned into text', () => {
    const holder = { config: { token: secret } };
    const printed = [
      JSON.stringify(holder),
      String(secret),
      `${secret}`,
      inspect(holder, { depth: 10, showHidden: true }),
      format('%s %o %O %j', secret, holder, holder, holder),
      JSON.stringify({ ...secret }),
      JSON.stringify(Object.entries(secret)),
      new Error(`bad token ${secret}`).message,
    ];
    for (const text of printed) expect(text).not.toContain(VALUE);
    expect(JSON.stringify(holder)).toBe('{"config":{"token":"set (23 characters)"}}');
  });

  it('describes bytes by size and source, not by content', () => {
    const key = secretBytes(Buffer.from('-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n'), '/etc/fw/key.pem');
    expect(JSON.stringify({ key })).toBe('{"key":"set (41 bytes, from /etc/fw/key.pem)"}');
    expect(inspect({ key })).not.toContain('MIGHAgEAMBMG');
    expect(key.reveal().toString()).toContain('MIGHAgEAMBMG');
  });
});

describe('secretTextVariable', () => {
  const shape = { FW_TOKEN: secretTextVariable(16), FW_NAME: z.string().min(16).optional() };

  it('reads the variable into a Secret', () => {
    const env = readEnvironment(shape, { FW_TOKEN: VALUE });
    expect(env.FW_TOKEN?.reveal()).toBe(VALUE);
    expect(JSON.stringify(env)).not.toContain(VALUE);
    expect(shownValueOf(shape.FW_TOKEN, VALUE)).toBe('23 characters');
    expect(shownValueOf(shape.FW_NAME, VALUE)).toBe(JSON.stringify(VALUE));
  });

  it('refuses a short value by its length, without echoing it (other variables still are)', () => {
    const short = 'hunter2-short';
    let problems: readonly string[] = [];
    try {
      readEnvironment(shape, { FW_TOKEN: short, FW_NAME: 'visible' });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      problems = (err as ConfigError).problems;
      expect((err as ConfigError).message).not.toContain(short);
    }
    expect(problems).toEqual([
      'FW_TOKEN: must be at least 16 characters (got 13 characters)',
      expect.stringContaining('(got "visible")'),
    ]);
  });
});

describe('shownInErrorsAs', () => {
  it('shows a marked variable\'s bad value as told in a ConfigError', () => {
    const shape = { FW_URL: shownInErrorsAs(z.string().url(), (raw) => JSON.stringify(raw.replace(/:[^:@/]*@/, ':***@'))) };
    expect(() => readEnvironment(shape, { FW_URL: 'not a url with pw:hunter2@' })).toThrow('(got "not a url with pw:***@")');
  });
});
