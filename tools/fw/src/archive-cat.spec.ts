import { readFile, truncate, writeFile } from 'node:fs/promises';
import { expectOneErrorLine, makeScratchDir, parseJsonLines, runFw, toJsonLines } from './testing/run-fw';
import { LARGE_FRAME_ID, keypointsFrames } from './testing/sample-frames';

describe('fw archive cat', () => {
  let scratch: Awaited<ReturnType<typeof makeScratchDir>>;
  const frames = keypointsFrames(10, 3);

  beforeAll(async () => {
    scratch = await makeScratchDir();
    await writeFile(scratch.path('kp.jsonl'), toJsonLines(frames));
    const made = await Promise.all([
      runFw(['archive', 'convert', '--protocol', 'keypoints', '--master-interval', '3', 'kp.jsonl', 'kp.bin'], scratch.dir),
      runFw(['archive', 'convert', '--protocol', 'keypoints', '--master-interval', '3', '--no-sidecar', '--framing', 'u32le', 'kp.jsonl', 'rw.bin'], scratch.dir),
    ]);
    for (const run of made) expect(run).toMatchObject({ code: 0, stderr: '' });
  });
  afterAll(() => scratch.remove());

  it('prints only the frames from --from to --to, inclusive, with absolute values after deltas', async () => {
    // Ids 1000, 1002, ..., 1016, then 2^64-1. The range starts at a delta frame (1002), which
    // must still come out absolute: the frames before it are decoded, not printed.
    const run = await runFw(['archive', 'cat', '--json', '--from', '1002', '--to', '1008', 'kp.bin'], scratch.dir);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(parseJsonLines(run.stdout)).toEqual(frames.slice(1, 5));
  });

  it('accepts frame ids up to 2^64-1 in --from and --to', async () => {
    const run = await runFw(['archive', 'cat', '--json', '--from', '9007199254740993', '--to', LARGE_FRAME_ID, 'kp.bin'], scratch.dir);
    expect(run.code).toBe(0);
    expect(parseJsonLines(run.stdout)).toEqual([frames[9]]);
    const beyond = await runFw(['archive', 'cat', '--json', '--from', '18446744073709551616', 'kp.bin'], scratch.dir);
    expect(beyond.code).not.toBe(0);
    expect(expectOneErrorLine(beyond)).toContain('--from');
  });

  it('reads a file without a sidecar with --protocol and --framing', async () => {
    const run = await runFw(['archive', 'cat', '--json', '--protocol', 'keypoints', '--framing', 'u32le', 'rw.bin'], scratch.dir);
    expect(run.code).toBe(0);
    expect(parseJsonLines(run.stdout)).toEqual(frames);
  });

  it('prints one short text line per frame without --json', async () => {
    const run = await runFw(['archive', 'cat', '--to', '1002', 'kp.bin'], scratch.dir);
    expect(run.stdout).toMatch(/^frame 1000 at offset 0: master, 3 keypoints\nframe 1002 at offset \d+: delta, 3 keypoints\n$/);
  });

  it('prints the frames before a torn tail, then warns on stderr', async () => {
    await writeFile(scratch.path('torn.bin'), await readFile(scratch.path('kp.bin')));
    await writeFile(scratch.path('torn.fw.json'), await readFile(scratch.path('kp.fw.json')));
    const size = (await readFile(scratch.path('kp.bin'))).length;
    await truncate(scratch.path('torn.bin'), size - 5);
    const run = await runFw(['archive', 'cat', '--json', 'torn.bin'], scratch.dir);
    expect(run.code).toBe(0);
    expect(parseJsonLines(run.stdout)).toEqual(frames.slice(0, 9));
    expect(run.stderr).toMatch(/^fw: warning: torn\.bin: torn tail: .* at offset \d+; the frames before it are complete\n$/);
  });

  it('refuses an option that contradicts the sidecar, and a file it cannot find', async () => {
    const contradiction = await runFw(['archive', 'cat', '--protocol', 'stage', 'kp.bin'], scratch.dir);
    expect(contradiction.code).not.toBe(0);
    expect(expectOneErrorLine(contradiction)).toContain('--protocol stage contradicts the sidecar');
    const missing = await runFw(['archive', 'cat', '--protocol', 'keypoints', 'missing.bin'], scratch.dir);
    expect(missing.code).not.toBe(0);
    expect(expectOneErrorLine(missing)).toBe('fw: missing.bin: no such file');
  });
});
