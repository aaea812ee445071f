import { mkdir, writeFile } from 'node:fs/promises';
import { ArchiveWriter } from '@framewire/archive';
import { KeyPointsSink } from '@framewire/overlay-codecs';
import { expectOneErrorLine, makeScratchDir, parseJsonLines, runFw, toJsonLines } from './testing/run-fw';
import { keypointsFrames } from './testing/sample-frames';

describe('fw archive info', () => {
  let scratch: Awaited<ReturnType<typeof makeScratchDir>>;
  let recorded: string;
  /** The time the writer's clock gave each frame. */
  const frameTimes: number[] = [];

  beforeAll(async () => {
    scratch = await makeScratchDir();
    await writeFile(scratch.path('kp.jsonl'), toJsonLines(keypointsFrames(10, 3)));
    const run = await runFw(['archive', 'convert', '--protocol', 'keypoints', '--master-interval', '3', 'kp.jsonl', 'kp.bin'], scratch.dir);
    expect(run.code).toBe(0);

    // A recording as the gateway makes it: the writer's index holds the frame times.
    let now = Date.UTC(2024, 0, 2, 3, 4, 5);
    const writer = await ArchiveWriter.open({
      directory: scratch.dir,
      baseName: 'pose',
      streamId: 'cam-1',
      protocol: 'keypoints',
      durability: { kind: 'on-close' },
      clock: () => (now += 33),
    });
    recorded = writer.segmentPath;
    const sink = new KeyPointsSink(writer, { masterInterval: 10 });
    for (let i = 0; i < 25; i++) {
      await sink.beginFrame(500 + i).add(1, i, -i, 0.5).commit();
      frameTimes.push(now);
    }
    await sink.close();
  });
  afterAll(() => scratch.remove());

  it('counts frames and masters and names the first and last frame, size and bytes per frame', async () => {
    const run = await runFw(['archive', 'info', '--json', 'kp.bin'], scratch.dir);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const [info] = parseJsonLines(run.stdout) as Array<Record<string, unknown>>;
    expect(info).toMatchObject({
      file: 'kp.bin',
      protocol: 'keypoints',
      framing: 'varint',
      formatSource: 'sidecar',
      frames: 10,
      masters: 4,
      firstFrameId: 1000,
      lastFrameId: '18446744073709551615',
      firstTimeMs: null,
      lastTimeMs: null,
      tornTail: null,
      corruption: null,
    });
    expect(info.bytesPerFrame).toBeCloseTo((info.sizeBytes as number) / 10, 1);
  });

  it('takes the first and last frame time from the index the archive writer keeps', async () => {
    const run = await runFw(['archive', 'info', '--json', recorded], scratch.dir);
    const [info] = parseJsonLines(run.stdout) as Array<Record<string, unknown>>;
    expect(info).toMatchObject({
      streamId: 'cam-1',
      frames: 25,
      masters: 3,
      firstFrameId: 500,
      lastFrameId: 524,
      firstTimeMs: frameTimes[0],
      lastTimeMs: frameTimes[24],
    });
  });

  it('reports every file in text, and goes on after one it cannot read', async () => {
    const run = await runFw(['archive', 'info', 'kp.bin', 'missing.bin', recorded], scratch.dir);
    expect(run.code).not.toBe(0);
    expect(expectOneErrorLine(run)).toBe('fw: missing.bin: no such file');
    expect(run.stdout).toContain('kp.bin:\n  protocol      keypoints (from the .fw.json sidecar)\n');
    expect(run.stdout).toMatch(/ {2}frames {8}25\n {2}masters {7}3\n/);
    expect(run.stdout).toContain(`last frame    id 524, ${new Date(frameTimes[24]).toISOString()}`);
  });
});

describe('fw archive info on a folder', () => {
  let scratch: Awaited<ReturnType<typeof makeScratchDir>>;

  beforeAll(async () => {
    scratch = await makeScratchDir();
    // The gateway's layout: <archive>/<stream>/<worker>/<kind>-<stream>-<time>-<n>.bin, with an index
    // and a sidecar beside each segment.
    for (const worker of ['worker-2', 'worker-1']) {
      const writer = await ArchiveWriter.open({
        directory: scratch.path(`archive/cam-1/${worker}`),
        baseName: 'keypoints',
        streamId: 'cam-1',
        protocol: 'keypoints',
        durability: { kind: 'on-close' },
      });
      const sink = new KeyPointsSink(writer, { masterInterval: 10 });
      for (let i = 0; i < (worker === 'worker-1' ? 4 : 6); i++) await sink.beginFrame(i).add(1, i, i, 0.5).commit();
      await sink.close();
    }
    await mkdir(scratch.path('empty/cam-9'), { recursive: true });
  });
  afterAll(() => scratch.remove());

  it('reports every archive file under the folder, in path order, and nothing else', async () => {
    const run = await runFw(['archive', 'info', '--json', 'archive'], scratch.dir);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const infos = parseJsonLines(run.stdout) as Array<{ file: string; frames: number; streamId: string }>;
    expect(infos.map((i) => [i.file.replace(/-\d{8}T\d{6}Z-\d+\.bin$/, ''), i.frames, i.streamId])).toEqual([
      ['archive/cam-1/worker-1/keypoints-cam-1', 4, 'cam-1'],
      ['archive/cam-1/worker-2/keypoints-cam-1', 6, 'cam-1'],
    ]);
    const text = await runFw(['archive', 'info', 'archive/cam-1'], scratch.dir);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n').filter((l) => l.endsWith('.bin:'))).toHaveLength(2);
  });

  it('says so, with exit status 1, for a folder without archive files', async () => {
    const run = await runFw(['archive', 'info', 'empty'], scratch.dir);
    expect(run.code).toBe(1);
    expect(expectOneErrorLine(run)).toBe('fw: empty: a folder with no .bin archive files under it');
  });
});
