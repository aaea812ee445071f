// The standard-library Python reader (tools/python/framewire_shm_reader.py) against frames
// written by the TypeScript writer: the layout in docs/shm.md is what both sides implement.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameRingWriter } from './index';
import { fillFrame } from './testing/frame-pattern';

const PYTHON = '/usr/bin/python3';
const READER = join(__dirname, '..', '..', '..', 'tools', 'python', 'framewire_shm_reader.py');
const PREFIX = `fw-test-py-${process.pid}-`;

function runReader(args: string[]): { status: number; output: Record<string, unknown> } {
  try {
    return { status: 0, output: JSON.parse(execFileSync(PYTHON, [READER, ...args], { encoding: 'utf8' })) };
  } catch (err) {
    const failure = err as { status: number; stdout: string };
    return { status: failure.status, output: JSON.parse(failure.stdout) };
  }
}

describe('the Python standard-library reader', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'fw-shm-py-'));
  const writer = FrameRingWriter.create({ name: `${PREFIX}ring`, slotCount: 3, slotBytes: 200_000 });

  afterAll(() => {
    writer.close();
    rmSync(scratch, { recursive: true, force: true });
    expect(readdirSync('/dev/shm').filter((entry) => entry.startsWith(PREFIX))).toEqual([]);
  });

  it('reads the metadata, reference and bytes the TypeScript writer wrote, by slot and latest', () => {
    const frames = [1, 2, 3, 4].map((sequence) => {
      const data = fillFrame(Buffer.alloc(150_000 + sequence), sequence);
      const meta = { streamId: `cam-ü-${sequence}`, sequence, captureTimeUs: 1_700_000_000_000_000 + sequence, width: 1920, height: 1080, pixelFormat: 2 };
      return { meta, data, ref: writer.write(meta, data) };
    });
    const newest = frames[3];
    for (const [args, frame] of [
      [['--slot', String(newest.ref.slot)], newest],
      [['--latest'], newest],
      [['--slot', String(frames[2].ref.slot)], frames[2]],
    ] as const) {
      const out = join(scratch, 'frame.bin');
      const { status, output } = runReader([writer.name, ...args, '--out', out]);
      expect(status).toBe(0);
      expect(output).toMatchObject({ token: writer.token, writerPid: process.pid, meta: frame.meta, ref: frame.ref, crc32Computed: frame.ref.crc32, crc32Ok: true });
      expect(readFileSync(out).equals(frame.data)).toBe(true);
    }
  });

  it('reports a missing ring and an out-of-range slot as errors', () => {
    expect(runReader([`${PREFIX}missing`, '--latest'])).toMatchObject({ status: 2 });
    expect(runReader([writer.name, '--slot', '3'])).toMatchObject({ status: 2, output: { error: expect.stringMatching(/slot 3/) } });
  });
});
