// The launcher link with real processes: a stand-in service runs with the preload (or calls
// watchLauncherLink itself) and the test plays the launcher, holding the other end on fd 3.
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT, waitFor } from '@framewire/testing';
import { LAUNCHER_LINK_ENV, LAUNCHER_LINK_FD } from './launcher-link';

const PRELOAD = join(REPO_ROOT, 'dist/tools/start/launcher-link-preload.js');
const LINK_MODULE = join(REPO_ROOT, 'dist/tools/start/launcher-link.js');
/** Bound on a stand-in reacting (it starts in well under a second; the machine may be loaded). */
const REACTION_BOUND_MS = 10_000;

interface StandIn {
  child: ChildProcess;
  output: string[];
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

describe('the launcher link', () => {
  jest.setTimeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'fw-launcher-link-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const running: ChildProcess[] = [];
  afterEach(() => {
    for (const child of running.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  /** Writes `source` as a script and runs it the way the supervisor runs a service: detached, with
   *  the link on fd 3 (or `fd3` instead) and its variable set, and `--require` the preload unless told not to. */
  async function standIn(source: string, options: { preload?: boolean; fd3?: number | 'pipe' } = {}): Promise<StandIn> {
    const script = join(dir, `stand-in-${running.length}.js`);
    writeFileSync(script, `${source}\nconsole.log('up');\nsetInterval(() => undefined, 1000);\n`);
    const args = options.preload === false ? [script] : ['--require', PRELOAD, script];
    const child = spawn(process.execPath, args, {
      env: { PATH: process.env.PATH ?? '', [LAUNCHER_LINK_ENV]: String(LAUNCHER_LINK_FD) },
      stdio: ['ignore', 'pipe', 'pipe', options.fd3 ?? 'pipe'],
      detached: true,
    });
    running.push(child);
    const output: string[] = [];
    for (const stream of [child.stdout, child.stderr]) if (stream) createInterface({ input: stream }).on('line', (l) => output.push(l));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    await waitFor('the stand-in to start', () => output.includes('up'), REACTION_BOUND_MS);
    return { child, output, exited };
  }

  /** What the kernel does when the launcher ends however it ends: its end of the link closes. */
  const launcherGoes = (s: StandIn) => s.child.stdio[LAUNCHER_LINK_FD]?.destroy();

  const GRACEFUL = `process.on('SIGTERM', () => { console.log('stopping on SIGTERM'); setTimeout(() => process.exit(0), 100); });`;

  it('stops a service cleanly (its own SIGTERM handling) when the launcher ends', async () => {
    const s = await standIn(GRACEFUL);
    launcherGoes(s);
    expect(await s.exited).toEqual([0, null]);
    expect(s.output).toContain('stopping on SIGTERM');
  });

  it('does not signal a service again that is already stopping when the launcher ends', async () => {
    const s = await standIn(`let n = 0;
process.on('SIGTERM', () => { console.log('SIGTERM ' + ++n); setTimeout(() => process.exit(0), 500); });`);
    s.child.kill('SIGTERM');
    await waitFor('the first SIGTERM', () => s.output.includes('SIGTERM 1'), REACTION_BOUND_MS);
    launcherGoes(s);
    expect(await s.exited).toEqual([0, null]);
    expect(s.output.filter((l) => l.startsWith('SIGTERM'))).toEqual(['SIGTERM 1']);
  });

  it('keeps the default action of a stop signal that comes before the service handles signals', async () => {
    const s = await standIn('');
    s.child.kill('SIGTERM');
    expect(await s.exited).toEqual([null, 'SIGTERM']);
  });

  it('kills a service that does not stop within the bound after the launcher ended', async () => {
    const s = await standIn(`process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
require(${JSON.stringify(LINK_MODULE)}).watchLauncherLink(process.env, 300);`, { preload: false });
    launcherGoes(s);
    expect(await s.exited).toEqual([null, 'SIGKILL']);
    expect(s.output).toContain('ignoring SIGTERM');
  });

  it('says so when the descriptor it is given is not a socket, and leaves the service alone', async () => {
    const file = join(dir, 'not-a-socket');
    writeFileSync(file, '');
    const fd = openSync(file, 'r');
    try {
      const s = await standIn(GRACEFUL, { fd3: fd });
      const complaint = `launcher link: ${LAUNCHER_LINK_ENV}=${LAUNCHER_LINK_FD} is not an open socket; this service will not stop with its launcher`;
      await waitFor('the complaint on stderr', () => s.output.includes(complaint), REACTION_BOUND_MS);
      expect(s.child.exitCode).toBeNull();
    } finally {
      closeSync(fd);
    }
  });
});
