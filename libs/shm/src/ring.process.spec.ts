// The ring across real processes: writer and readers are separate Node processes running the
// compiled dist/ (Jest's global setup builds it), as capture, the supplier and workers are.
import { ChildProcess, fork } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FrameRingReader } from './index';
import { isIntactFrame } from './testing/frame-pattern';
import type { ReaderProcessOptions } from './testing/ring-reader.process';
import type { WriterProcessOptions } from './testing/ring-writer.process';

const DIST_TESTING = join(__dirname, '..', '..', '..', 'dist', 'libs', 'shm', 'src', 'testing');
const PREFIX = `fw-test-proc-${process.pid}-`;
const MESSAGE_TIMEOUT_MS = 10_000;
let counter = 0;
const ringName = (): string => `${PREFIX}${counter++}`;

interface Message {
  type: string;
  [key: string]: unknown;
}

const children: ChildProcess[] = [];

function start(script: string, options: WriterProcessOptions | ReaderProcessOptions): ChildProcess {
  const child = fork(join(DIST_TESTING, script), [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  return child;
}

function nextMessage(child: ChildProcess, type: string, timeoutMs = MESSAGE_TIMEOUT_MS): Promise<Message> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`no '${type}' message from pid ${child.pid} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: Message): void => {
      if (message.type !== type) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message);
    };
    child.on('message', onMessage);
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

async function closeWriter(writer: ChildProcess): Promise<void> {
  writer.send('close');
  await nextMessage(writer, 'closed');
  await exited(writer);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  }
});

afterAll(() => {
  const leaked = readdirSync('/dev/shm').filter((entry) => entry.startsWith(PREFIX));
  expect(leaked).toEqual([]);
});

describe('the frame ring across processes', () => {
  it('delivers frames written by a writer process to a reader process intact', async () => {
    const name = ringName();
    // The writer writes when asked, so no slot is rewritten before its reader reads it (a loaded
    // machine lapped a timed writer: 17 of 20 read in CI). Lapping has tests of its own below.
    const writer = start('ring-writer.process.js', { name, slotCount: 8, slotBytes: 65536, frameBytes: 65536, intervalMs: 0, sendRefs: true, onRequest: true });
    const { token } = await nextMessage(writer, 'ready');
    const reader = start('ring-reader.process.js', { name, mode: 'refs', verifyChecksum: true, durationMs: 0, delayMs: 0 });
    expect((await nextMessage(reader, 'ready')).token).toBe(token);
    const results: Message[] = [];
    for (let i = 0; i < 20; i++) {
      writer.send('write');
      const { ref } = await nextMessage(writer, 'ref');
      reader.send({ ref });
      results.push(await nextMessage(reader, 'read'));
    }
    expect(results.map((r) => [r.ok, r.intact])).toEqual(Array.from({ length: 20 }, () => [true, true]));
    reader.send('close');
    await nextMessage(reader, 'done');
    await closeWriter(writer);
  });

  it('counts a reader slower than the writer as lapped, never returning torn data', async () => {
    const name = ringName();
    const writer = start('ring-writer.process.js', { name, slotCount: 2, slotBytes: 16384, frameBytes: 16384, intervalMs: 1, sendRefs: false });
    await nextMessage(writer, 'ready');
    const reader = start('ring-reader.process.js', { name, mode: 'latest', verifyChecksum: true, durationMs: 1000, delayMs: 10 });
    const done = await nextMessage(reader, 'done');
    const stats = done.stats as { overwritten: number; reads: number };
    expect(stats.overwritten).toBeGreaterThan(10);
    expect(done.torn).toBe(0);
    await closeWriter(writer);
  });

  it('never yields a torn frame while a writer rewrites a small ring as fast as it can (torture)', async () => {
    const name = ringName();
    const writer = start('ring-writer.process.js', { name, slotCount: 3, slotBytes: 262144, frameBytes: 262144, intervalMs: 0, sendRefs: false });
    await nextMessage(writer, 'ready');
    // Checksums off: the sequence lock alone must keep torn frames out.
    const readers = [0, 1].map(() => start('ring-reader.process.js', { name, mode: 'latest', verifyChecksum: false, durationMs: 3000, delayMs: 0 }));
    const results = await Promise.all(readers.map((reader) => nextMessage(reader, 'done')));
    writer.send('stats');
    const { framesWritten } = await nextMessage(writer, 'stats');
    for (const result of results) {
      expect(result.torn).toBe(0);
      expect(result.intact as number).toBeGreaterThan(100);
      expect((result.stats as { overwritten: number }).overwritten).toBeGreaterThan(0);
    }
    expect(framesWritten as number).toBeGreaterThan(1000);
    await closeWriter(writer);
  }, 20_000);

  it('sees a SIGKILLed writer gone, then its restart replacing the ring, and reattaches', async () => {
    const name = ringName();
    const options: WriterProcessOptions = { name, slotCount: 4, slotBytes: 4096, frameBytes: 4096, intervalMs: 5, sendRefs: false };
    const first = start('ring-writer.process.js', options);
    const { token: firstToken } = await nextMessage(first, 'ready');
    const reader = FrameRingReader.open(name);
    try {
      expect(reader.token).toBe(firstToken);
      expect(reader.writerStatus()).toBe('alive');
      first.kill('SIGKILL');
      await exited(first);
      expect(reader.writerStatus()).toBe('gone');
      // The restarted writer removes the object its predecessor left behind.
      const second = start('ring-writer.process.js', options);
      const { token: secondToken } = await nextMessage(second, 'ready');
      expect(secondToken).not.toBe(firstToken);
      expect(reader.writerStatus()).toBe('replaced');
      reader.reattach();
      expect(reader.token).toBe(secondToken);
      expect(reader.writerStatus()).toBe('alive');
      await sleep(50);
      const ref = reader.latest()?.ref;
      if (ref === undefined) throw new Error('no frame in the restarted ring');
      const result = reader.read(ref);
      expect(result.ok && isIntactFrame(result.data)).toBe(true);
      await closeWriter(second);
      expect(reader.writerStatus()).toBe('gone');
    } finally {
      reader.close();
    }
  });

  it('keeps the writer running when a reader is SIGKILLed', async () => {
    const name = ringName();
    const writer = start('ring-writer.process.js', { name, slotCount: 4, slotBytes: 65536, frameBytes: 65536, intervalMs: 2, sendRefs: false });
    await nextMessage(writer, 'ready');
    const doomed = start('ring-reader.process.js', { name, mode: 'latest', verifyChecksum: true, durationMs: 10_000, delayMs: 0 });
    await sleep(300);
    doomed.kill('SIGKILL');
    await exited(doomed);
    writer.send('stats');
    const before = (await nextMessage(writer, 'stats')).framesWritten as number;
    await sleep(200);
    writer.send('stats');
    const after = (await nextMessage(writer, 'stats')).framesWritten as number;
    expect(after).toBeGreaterThan(before);
    // The ring still serves readers. The writer keeps writing every 2 ms into 4 slots, so a read may
    // find its slot rewritten (reported, never torn): read the newest until one read succeeds.
    const reader = FrameRingReader.open(name);
    try {
      let intact: boolean | undefined;
      for (let attempt = 0; attempt < 100 && intact === undefined; attempt++) {
        const ref = reader.latest()?.ref;
        if (ref === undefined) throw new Error('no frame in the ring');
        const result = reader.read(ref);
        if (result.ok) intact = isIntactFrame(result.data);
      }
      expect(intact).toBe(true);
    } finally {
      reader.close();
      await closeWriter(writer);
    }
  });
});
