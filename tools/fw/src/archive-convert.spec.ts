import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { decodeFrames } from '@framewire/framing';
import { expectOneErrorLine, makeScratchDir, parseJsonLines, runFw, toJsonLines } from './testing/run-fw';
import { LARGE_FRAME_ID, RESULT_FRAMES, SEGMENTATION_FRAMES, STAGE_FRAMES, keypointsFrames } from './testing/sample-frames';

describe('fw archive convert', () => {
  let scratch: Awaited<ReturnType<typeof makeScratchDir>>;
  beforeAll(async () => {
    scratch = await makeScratchDir();
  });
  afterAll(() => scratch.remove());

  async function roundTrip(name: string, frames: unknown[], args: string[]): Promise<unknown[]> {
    await writeFile(scratch.path(`${name}.jsonl`), toJsonLines(frames));
    const toBinary = await runFw(['archive', 'convert', `${name}.jsonl`, `${name}.bin`, ...args], scratch.dir);
    expect(toBinary).toMatchObject({ code: 0, stderr: '' });
    const toJson = await runFw(['archive', 'convert', `${name}.bin`, `${name}.back.jsonl`], scratch.dir);
    expect(toJson).toMatchObject({ code: 0, stderr: '' });
    return parseJsonLines(await readFile(scratch.path(`${name}.back.jsonl`), 'utf8'));
  }

  it('gives back the keypoints JSON it was given, masters every 3rd frame, ids above 2^53 as strings', async () => {
    const frames = keypointsFrames(10, 3);
    expect(await roundTrip('kp', frames, ['--protocol', 'keypoints', '--master-interval', '3'])).toEqual(frames);
    // The binary really holds deltas: frame types on the wire follow the sink's counter.
    const payloads = decodeFrames(await readFile(scratch.path('kp.bin')));
    expect(payloads.map((frame) => frame.payload[0])).toEqual([0, 1, 1, 0, 1, 1, 0, 1, 1, 0]);
    expect(frames[9].frameId).toBe(LARGE_FRAME_ID);
  });

  it('gives back segmentation, stage and result JSON unchanged', async () => {
    const [segmentation, stage, result] = await Promise.all([
      roundTrip('seg', SEGMENTATION_FRAMES, ['--protocol', 'segmentation', '--framing', 'u32le']),
      roundTrip('stage', STAGE_FRAMES, ['--protocol', 'stage']),
      roundTrip('result', RESULT_FRAMES, ['--protocol', 'result']),
    ]);
    expect(segmentation).toEqual(SEGMENTATION_FRAMES);
    expect(stage).toEqual(STAGE_FRAMES);
    expect(result).toEqual(RESULT_FRAMES);
  });

  it('decides master or delta by its own counter, not by the "type" in the input', async () => {
    const frames = keypointsFrames(4, 300).map((frame) => ({ ...frame, type: 'delta' }));
    const back = (await roundTrip('kp-types', frames, ['--protocol', 'keypoints'])) as Array<{ type: string }>;
    expect(back.map((frame) => frame.type)).toEqual(['master', 'delta', 'delta', 'delta']);
  });

  it('takes confidenceRaw over confidence, and confidence alone when there is no raw value', async () => {
    const frames = [
      { frameId: 1, keypoints: [{ id: 1, x: 0, y: 0, confidence: 0.9, confidenceRaw: 100 }] },
      { frameId: 2, keypoints: [{ id: 1, x: 0, y: 0, confidence: 0.5 }] },
    ];
    const back = (await roundTrip('kp-raw', frames, ['--protocol', 'keypoints'])) as Array<{ keypoints: Array<{ confidenceRaw: number }> }>;
    expect(back.map((frame) => frame.keypoints[0].confidenceRaw)).toEqual([100, Math.trunc(0.5 * 65535)]);
  });

  it('writes a plain RW file without a sidecar when asked, which then needs --protocol to read', async () => {
    await writeFile(scratch.path('plain.jsonl'), toJsonLines(keypointsFrames(2, 300)));
    expect((await runFw(['archive', 'convert', '--no-sidecar', '--protocol', 'keypoints', 'plain.jsonl', 'plain.bin'], scratch.dir)).code).toBe(0);
    expect(existsSync(scratch.path('plain.fw.json'))).toBe(false);
    const withoutProtocol = await runFw(['archive', 'convert', 'plain.bin', 'plain.back.jsonl'], scratch.dir);
    expect(withoutProtocol.code).not.toBe(0);
    expect(expectOneErrorLine(withoutProtocol)).toContain('--protocol');
    const withProtocol = await runFw(['archive', 'convert', '--protocol', 'keypoints', 'plain.bin', 'plain.back.jsonl'], scratch.dir);
    expect(withProtocol.code).toBe(0);
  });

  it('names the line of a line that is not JSON, and leaves no output behind', async () => {
    await writeFile(scratch.path('broken.jsonl'), `${JSON.stringify(keypointsFrames(1, 1)[0])}\n\n{"frameId": 2, "keypoints": [}\n`);
    const run = await runFw(['archive', 'convert', '--protocol', 'keypoints', 'broken.jsonl', 'broken.bin'], scratch.dir);
    expect(run.code).not.toBe(0);
    expect(expectOneErrorLine(run)).toMatch(/^fw: broken\.jsonl: line 3: not valid JSON/);
    expect(existsSync(scratch.path('broken.bin'))).toBe(false);
    expect(existsSync(scratch.path('broken.fw.json'))).toBe(false);
  });

  it('names the line and the field of a frame the protocol cannot carry', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['keypoints', '{"frameId": 1, "keypoints": [{"id": 1, "x": 1.5, "y": 0, "confidence": 1}]}', /line 1: keypoint x 1\.5 is not an int32$/],
      // Above 2^53 a JSON number has been rounded before fw sees it: it must be a string.
      ['keypoints', '{"frameId": 9007199254740993, "keypoints": []}', /line 1: frameId .* write it as a decimal string$/],
      [
        'segmentation',
        '{"frameId": 1, "width": 1, "height": 1, "instances": [{"classId": 1, "instanceId": 1, "confidence": 1, "points": [[1]]}]}',
        /line 1: instances\[0\]\.points\[0\] must be a pair/,
      ],
      ['stage', '{"frameId": 1, "layers": [{"layerId": 0, "type": "master", "ops": [{"op": "squiggle"}]}]}', /line 1: layers\[0\]\.ops\[0\]\.op "squiggle" is not one of/],
    ];
    const runs = await Promise.all(
      cases.map(async ([protocol, line], i) => {
        await writeFile(scratch.path(`bad${i}.jsonl`), `${line}\n`);
        return runFw(['archive', 'convert', '--protocol', protocol, `bad${i}.jsonl`, `bad${i}.bin`], scratch.dir);
      }),
    );
    runs.forEach((run, i) => {
      expect(run.code).not.toBe(0);
      expect(expectOneErrorLine(run)).toMatch(cases[i][2]);
    });
  });

  it('refuses a master interval below 1, an unknown direction and a missing protocol', async () => {
    await writeFile(scratch.path('in.jsonl'), toJsonLines(keypointsFrames(1, 1)));
    const runs = await Promise.all([
      runFw(['archive', 'convert', '--protocol', 'keypoints', '--master-interval', '0', 'in.jsonl', 'out.bin'], scratch.dir),
      runFw(['archive', 'convert', '--protocol', 'keypoints', 'in.jsonl', 'out.json'], scratch.dir),
      runFw(['archive', 'convert', 'in.jsonl', 'out.bin'], scratch.dir),
    ]);
    expect(expectOneErrorLine(runs[0])).toContain('master interval');
    expect(expectOneErrorLine(runs[1])).toContain('--to json|binary');
    expect(expectOneErrorLine(runs[2])).toContain('--protocol');
    for (const run of runs) expect(run.code).not.toBe(0);
  });
});
