// Starting the model analyzers a worker names: each model once, shared by every stream's analyzer,
// nothing read when none is named, a corrupt model file refused by name, and close() stopping them.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DetectAnalyzer } from './detect';
import { ModelAnalyzers } from './model-analyzers';
import { findModelsDirectory, ModelFileError } from './model-files';
import { PoseAnalyzer } from './pose';
import { inputOf, MESSI_JPG, readRgbImage } from './test-images';

jest.setTimeout(120_000);

describe('ModelAnalyzers', () => {
  it('starts each named model once; every analyzer it makes is new and runs on that model', async () => {
    const models = await ModelAnalyzers.start(['motion', 'detect', 'tracks', 'pose'], {});
    try {
      expect(Object.keys(models.factories).sort()).toEqual(['detect', 'pose']);
      expect(models.started.map((s) => [s.model, s.analyzers, s.backend])).toEqual([
        ['centernet', ['detect'], 'wasm'],
        ['movenet-multipose', ['pose'], 'wasm'],
      ]);
      const one = models.factories.detect();
      const other = models.factories.detect();
      expect(one).toBeInstanceOf(DetectAnalyzer);
      expect(other).not.toBe(one);
      expect(models.factories.pose()).toBeInstanceOf(PoseAnalyzer);
      expect(models.runnerOf('selfie')).toBeUndefined();
      const messi = await readRgbImage(MESSI_JPG);
      const found = await other.analyze(inputOf(messi));
      expect(found.detections!.detections.some((d) => d.label === 'person')).toBe(true);
      // Warm-up and analyses leave no tensor behind on the shared thread.
      const runner = models.runnerOf('centernet')!;
      const before = await runner.memory();
      await one.analyze(inputOf(messi));
      expect(await runner.memory()).toEqual(before);
    } finally {
      await models.close();
    }
  });

  it('reads nothing when no model analyzer is named (a worker without models needs no models folder)', async () => {
    const models = await ModelAnalyzers.start(['motion', 'tracks', 'keypoints'], { modelsDir: '/nonexistent/models' });
    expect(models.factories).toEqual({});
    await models.close();
  });

  it('refuses to start with a corrupt model file, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-models-'));
    try {
      const from = findModelsDirectory();
      for (const f of readdirSync(from)) copyFileSync(join(from, f), join(dir, f));
      const file = join(dir, 'centernet.bin');
      const bytes = readFileSync(file);
      bytes[1000] ^= 0xff;
      writeFileSync(file, bytes);
      const failure = await ModelAnalyzers.start(['pose', 'detect'], { modelsDir: dir }).catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(ModelFileError);
      expect((failure as Error).message).toMatch(new RegExp(`^model file ${file}: sha256 [0-9a-f]{64} differs from the manifest's`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops its model threads at close: analyzers made before fail their next frame', async () => {
    const models = await ModelAnalyzers.start(['detect'], {});
    const detect = models.factories.detect();
    await models.close();
    await expect(detect.analyze(inputOf({ width: 8, height: 8, data: new Uint8Array(8 * 8 * 3) }))).rejects.toThrow('model centernet: the runner was closed');
  });
});
