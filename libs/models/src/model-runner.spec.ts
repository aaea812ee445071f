// A real model (the smallest shipped, selfie) on a real TensorFlow.js wasm thread; the files come from
// models/ (fetched at install).
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fitLetterbox } from './letterbox';
import { findModelsDirectory, ModelFileError } from './model-files';
import { ModelBusyError, ModelRunner } from './model-runner';

const modelsDir = findModelsDirectory();

function copyOfModels(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-models-'));
  for (const f of readdirSync(modelsDir)) copyFileSync(join(modelsDir, f), join(dir, f));
  return dir;
}

function grey(width: number, height: number): Uint8Array {
  return new Uint8Array(width * height * 3).fill(128);
}

describe('ModelRunner', () => {
  jest.setTimeout(60_000);

  it('runs a model on its thread and returns its outputs in the model’s shape', async () => {
    const runner = await ModelRunner.start({ model: 'selfie', modelsDir });
    try {
      expect(runner.backendName).toBe('wasm');
      const { outputs } = await runner.run({ pixels: grey(64, 48), width: 64, height: 48, letterbox: fitLetterbox(64, 48, 256, 256), encoding: 'float32-unit' });
      expect(outputs).toHaveLength(1);
      expect(outputs[0].shape).toEqual([1, 256, 256, 1]);
      expect(outputs[0].data).toHaveLength(256 * 256);
      expect(outputs[0].data.every((v) => v >= 0 && v <= 1)).toBe(true);
    } finally {
      await runner.close();
    }
  });

  it('leaks no tensor: the thread holds the same tensors after 50 frames as after one', async () => {
    const runner = await ModelRunner.start({ model: 'selfie', modelsDir });
    try {
      const request = { pixels: grey(32, 32), width: 32, height: 32, letterbox: fitLetterbox(32, 32, 256, 256), encoding: 'float32-unit' as const };
      await runner.run(request);
      const after1 = await runner.memory();
      for (let i = 0; i < 50; i++) await runner.run(request);
      const after51 = await runner.memory();
      expect(after51).toEqual(after1);
    } finally {
      await runner.close();
    }
  });

  it('fails to start with an error naming a missing file', async () => {
    const dir = copyOfModels();
    try {
      rmSync(join(dir, 'selfie.bin'));
      const failure = await ModelRunner.start({ model: 'selfie', modelsDir: dir }).catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(ModelFileError);
      expect((failure as Error).message).toContain(`model file ${join(dir, 'selfie.bin')}: missing`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails to start with an error naming a corrupt file (same size, one byte changed)', async () => {
    const dir = copyOfModels();
    try {
      const file = join(dir, 'selfie.json');
      const text = readFileSync(file);
      text[10] ^= 1;
      writeFileSync(file, text);
      await expect(ModelRunner.start({ model: 'selfie', modelsDir: dir })).rejects.toThrow(new RegExp(`model file ${file}: sha256 [0-9a-f]{64} differs from the manifest's`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses requests beyond its queue at once, and serves the queued ones', async () => {
    const runner = await ModelRunner.start({ model: 'selfie', modelsDir, maxPending: 2 });
    try {
      const request = { pixels: grey(32, 32), width: 32, height: 32, letterbox: fitLetterbox(32, 32, 256, 256), encoding: 'float32-unit' as const };
      const runs = [runner.run(request), runner.run(request), runner.run(request), runner.run(request)];
      const settled = await Promise.allSettled(runs);
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
      expect((settled[3] as PromiseRejectedResult).reason).toBeInstanceOf(ModelBusyError);
    } finally {
      await runner.close();
    }
  });

  it('fails every waiting request when closed, and refuses new ones', async () => {
    const runner = await ModelRunner.start({ model: 'selfie', modelsDir });
    const request = { pixels: grey(32, 32), width: 32, height: 32, letterbox: fitLetterbox(32, 32, 256, 256), encoding: 'float32-unit' as const };
    const pending = expect(runner.run(request)).rejects.toThrow('model selfie: the runner was closed');
    await runner.close();
    await pending;
    await expect(runner.run(request)).rejects.toThrow('model selfie: the runner was closed');
  });
});
