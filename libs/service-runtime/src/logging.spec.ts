import { LogFormat } from './config';
import { createServiceLogger } from './logging';
import { secretBytes, secretText } from './secret';

const TOKEN = 'hunter2-the-token-value';
const KEY_BODY = 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg';

/** What one log call writes to stdout and stderr. */
function logged(format: LogFormat, fields: Record<string, unknown>): string {
  const written: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    createServiceLogger('test', 'info', format).log({ message: 'configuration', ...fields }, 'Service');
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return written.join('');
}

describe.each(['json', 'text'] as const)('ServiceLogger (%s)', (format) => {
  const key = Buffer.from(`-----BEGIN PRIVATE KEY-----\n${KEY_BODY}\n-----END PRIVATE KEY-----\n`);

  it('prints secrets as their description, at any depth', () => {
    const line = logged(format, { config: { security: { token: secretText(TOKEN), serverTls: { privateKey: secretBytes(key, '/etc/fw/key.pem') } } } });
    expect(line).toContain('set (23 characters)');
    expect(line).toContain(`set (${key.length} bytes, from /etc/fw/key.pem)`);
    expect(line).not.toContain(TOKEN);
    expect(line).not.toContain(KEY_BODY);
  });

  it('prints binary values as their size, not their bytes', () => {
    const line = logged(format, { certChain: key, view: new Uint8Array(key) });
    expect(line).toContain(`<${key.length} bytes>`);
    expect(line).not.toContain(KEY_BODY);
    expect(line).not.toContain(String([...key.subarray(0, 8)]));
  });
});
