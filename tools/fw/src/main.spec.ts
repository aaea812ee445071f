import { writeFile } from 'node:fs/promises';
import { expectOneErrorLine, makeScratchDir, runFw } from './testing/run-fw';

describe('fw command line', () => {
  let scratch: Awaited<ReturnType<typeof makeScratchDir>>;
  beforeAll(async () => {
    scratch = await makeScratchDir();
  });
  afterAll(() => scratch.remove());

  it('prints help for every command and exits 0', async () => {
    const commands = [[], ['archive'], ['archive', 'info'], ['archive', 'cat'], ['archive', 'convert'], ['archive', 'verify']];
    const runs = await Promise.all(commands.map((command) => runFw([...command, '--help'], scratch.dir)));
    runs.forEach((run, i) => {
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout).toContain(`Usage: fw${commands[i].map((word) => ` ${word}`).join('')}`);
    });
    expect(runs[4].stdout).toContain('--master-interval <n>');
    expect(runs[3].stdout).toContain('--from <id>');
  });

  it('reports bad usage as one line without a stack trace', async () => {
    await writeFile(`${scratch.dir}/x.bin`, Buffer.from([1, 0]));
    const runs = await Promise.all([
      runFw(['archive', 'cat', '--protocol', 'bogus', 'x.bin'], scratch.dir),
      runFw(['archive', 'cat', '--framing', 'u16', '--protocol', 'keypoints', 'x.bin'], scratch.dir),
      runFw(['archive', 'frobnicate'], scratch.dir),
      runFw(['archive', 'cat'], scratch.dir),
    ]);
    expect(expectOneErrorLine(runs[0])).toContain("argument 'bogus' is invalid");
    expect(expectOneErrorLine(runs[1])).toContain("argument 'u16' is invalid");
    expect(expectOneErrorLine(runs[2])).toContain("unknown command 'frobnicate'");
    expect(expectOneErrorLine(runs[3])).toContain("missing required argument 'file'");
    for (const run of runs) expect(run.code).not.toBe(0);
  });

  it('needs --protocol for a file without a sidecar, and says so', async () => {
    await writeFile(`${scratch.dir}/rw.bin`, Buffer.from([1, 0]));
    const run = await runFw(['archive', 'verify', 'rw.bin'], scratch.dir);
    expect(run.code).toBe(1);
    expect(expectOneErrorLine(run)).toMatch(/^fw: rw\.bin: no sidecar .* give --protocol/);
  });
});
