import { readFile, writeFile } from 'node:fs/promises';
import { expectOneErrorLine, makeScratchDir, runFw, toJsonLines } from './testing/run-fw';
import { SEGMENTATION_FRAMES, keypointsFrames } from './testing/sample-frames';

const EXIT_UNSOUND = 2;

describe('fw archive verify', () => {
  let scratch: Awaited<ReturnType<typeof makeScratchDir>>;
  let sound: Buffer;
  /** Offset of the second frame's length prefix in kp.bin. */
  let secondFrame: number;

  beforeAll(async () => {
    scratch = await makeScratchDir();
    await writeFile(scratch.path('kp.jsonl'), toJsonLines(keypointsFrames(10, 3)));
    await writeFile(scratch.path('seg.jsonl'), toJsonLines(SEGMENTATION_FRAMES));
    const made = await Promise.all([
      runFw(['archive', 'convert', '--no-sidecar', '--protocol', 'keypoints', '--master-interval', '3', 'kp.jsonl', 'kp.bin'], scratch.dir),
      runFw(['archive', 'convert', '--protocol', 'segmentation', 'seg.jsonl', 'seg.bin'], scratch.dir),
    ]);
    for (const run of made) expect(run.code).toBe(0);
    sound = await readFile(scratch.path('kp.bin'));
    secondFrame = 1 + sound[0]; // a one-byte varint prefix, then the first payload
  });
  afterAll(() => scratch.remove());

  async function verifyVariant(name: string, bytes: Uint8Array): Promise<{ code: number; line: string }> {
    await writeFile(scratch.path(name), bytes);
    const run = await runFw(['archive', 'verify', '--protocol', 'keypoints', name], scratch.dir);
    expect(run.stdout).toBe('');
    return { code: run.code, line: expectOneErrorLine(run) };
  }

  it('says ok with the frame count and exits 0 for a sound file', async () => {
    const runs = await Promise.all([
      runFw(['archive', 'verify', '--protocol', 'keypoints', 'kp.bin'], scratch.dir),
      runFw(['archive', 'verify', 'seg.bin'], scratch.dir),
    ]);
    expect(runs[0]).toEqual({ code: 0, stdout: 'ok: 10 frames\n', stderr: '' });
    expect(runs[1]).toEqual({ code: 0, stdout: 'ok: 3 frames\n', stderr: '' });
  });

  it('names the offset of a torn last frame', async () => {
    const lastFrame = sound.length - 40;
    const { code, line } = await verifyVariant('torn.bin', sound.subarray(0, sound.length - 3));
    expect(code).toBe(EXIT_UNSOUND);
    expect(line).toMatch(/^fw: torn\.bin: torn tail: the file ends inside a frame \(\d+ of its \d+ bytes\) at offset (\d+)$/);
    const offset = Number(/at offset (\d+)$/.exec(line)?.[1]);
    expect(offset).toBeGreaterThan(lastFrame - 20);
    expect(offset).toBeLessThan(sound.length - 3);
  });

  it('names the offset of a frame whose payload does not decode', async () => {
    const corrupted = Buffer.from(sound);
    corrupted[secondFrame + 1] = 0x07; // the frame type byte of frame 2: neither master nor delta
    const { code, line } = await verifyVariant('corrupt.bin', corrupted);
    expect(code).toBe(EXIT_UNSOUND);
    expect(line).toMatch(new RegExp(`^fw: corrupt\\.bin: corrupt archive: undecodable keypoints payload: .* at offset ${secondFrame}$`));
  });

  it('names the offset of an invalid length prefix', async () => {
    const corrupted = Buffer.from(sound);
    corrupted.fill(0xff, secondFrame, secondFrame + 6);
    const { code, line } = await verifyVariant('prefix.bin', corrupted);
    expect(code).toBe(EXIT_UNSOUND);
    expect(line).toBe(`fw: prefix.bin: corrupt archive: varint too long: length prefix exceeds 5 bytes at offset ${secondFrame}`);
  });

  it('fails plainly, not as unsound, for a file it cannot find', async () => {
    const run = await runFw(['archive', 'verify', '--protocol', 'keypoints', 'missing.bin'], scratch.dir);
    expect(run.code).toBe(1);
    expect(expectOneErrorLine(run)).toBe('fw: missing.bin: no such file');
  });
});
