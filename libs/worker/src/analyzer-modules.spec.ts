// Loading analyzers named in FW_WORKER_ANALYZERS from real module files written to a temporary
// directory: every accepted export shape gives a working analyzer (a fresh one per stream where the
// module makes them), packages resolve from the working directory, an ES module loads (through the
// compiled dist/, as the worker process runs it), and a module that does not fit fails with an
// error naming it and what it lacks.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Analyzer, AnalyzerInput } from '@framewire/analysis';
import { REPO_ROOT } from '@framewire/testing';
import { AnalyzerModuleError, loadAnalyzerSources } from './analyzer-modules';

const FRAME: AnalyzerInput = { streamId: 's', frameSequence: 1, captureTimeUs: 1, frameWidth: 4, frameHeight: 4, image: { width: 4, height: 4, data: new Uint8Array(48) }, scale: 1, earlier: {} };
/** An analyzer body that counts its calls in a detection's class id (so instances can be told apart). */
const COUNTING = `{ name: 'counting', calls: 0, analyze() { this.calls++; return { detections: { detections: [{ score: 1, classId: this.calls, label: '' }] } }; } }`;

describe('loadAnalyzerSources', () => {
  let dir: string;
  const write = (name: string, text: string): void => {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  };
  /** Makes the analyzer of one entry (a module factory) and runs it on a frame. */
  const classIdsOf = async (make: () => Analyzer, frames: number): Promise<number[]> => {
    const analyzer = make();
    const ids: number[] = [];
    for (let i = 0; i < frames; i++) ids.push((await analyzer.analyze(FRAME)).detections?.detections[0].classId ?? -1);
    return ids;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fw-analyzer-modules-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps built-in names and loads modules by path, in order', async () => {
    write('mine.js', `module.exports = ${COUNTING};`);
    const sources = await loadAnalyzerSources(['motion', './mine.js', 'tracks'], dir);
    expect(sources[0]).toBe('motion');
    expect(sources[2]).toBe('tracks');
    expect(typeof sources[1]).toBe('function');
    expect((sources[1] as () => Analyzer)().name).toBe('counting');
  });

  it('takes the host’s named analyzers by their name, before a package of that name, and lists them when a name is unknown', async () => {
    write('node_modules/detect/index.js', `module.exports = ${COUNTING};`);
    const detect = (): Analyzer => ({ name: 'detect', analyze: () => ({}) });
    const sources = await loadAnalyzerSources(['motion', 'detect'], dir, { detect });
    expect(sources).toEqual(['motion', detect]);
    await expect(loadAnalyzerSources(['pos'], dir, { detect, pose: detect })).rejects.toThrow(`pos cannot be loaded: no such package or built-in analyzer (built-ins: motion, tracks, keypoints, detect, pose; packages resolve from ${dir})`);
  });

  it.each([
    ['an analyzer object (module.exports)', `module.exports = ${COUNTING};`, 'shared'],
    ['an analyzer as exports.default', `exports.default = ${COUNTING};`, 'shared'],
    ['a factory as the default export', `module.exports = () => (${COUNTING});`, 'per stream'],
    ['a class as the default export', `module.exports = class { constructor() { this.name = 'counting'; this.calls = 0; } analyze() { this.calls++; return { detections: { detections: [{ score: 1, classId: this.calls, label: '' }] } }; } };`, 'per stream'],
    ['createAnalyzer()', `exports.createAnalyzer = () => (${COUNTING}); exports.other = 1;`, 'per stream'],
  ])('accepts %s (instances: %s)', async (_, text, instances) => {
    write('shape.js', text);
    const [make] = (await loadAnalyzerSources(['./shape.js'], dir)) as (() => Analyzer)[];
    expect(await classIdsOf(make, 2)).toEqual([1, 2]);
    // A second stream's analyzer: a new one from a factory or class, the same object otherwise.
    expect(await classIdsOf(make, 1)).toEqual(instances === 'shared' ? [3] : [1]);
  });

  it('resolves a package name from the working directory', async () => {
    write('node_modules/@acme/detector/package.json', JSON.stringify({ name: '@acme/detector', version: '1.0.0', main: 'lib/main.js' }));
    write('node_modules/@acme/detector/lib/main.js', `exports.createAnalyzer = () => (${COUNTING});`);
    const [make] = (await loadAnalyzerSources(['@acme/detector'], dir)) as (() => Analyzer)[];
    expect(make().name).toBe('counting');
  });

  it.each([
    ['exports nothing usable', 'nothing.js', 'exports.threshold = 3;', './nothing.js exports no analyzer: expected a default export or `createAnalyzer()` returning an object with name and analyze(frame) (it exports: threshold (number))'],
    ['exports an object without analyze', 'noanalyze.js', "module.exports = { name: 'x', run() {} };", './noanalyze.js exports no analyzer: the analyzer it exports has no analyze(frame); expected a default export or `createAnalyzer()` returning an object with name and analyze(frame)'],
    ['makes an analyzer without a name', 'noname.js', 'exports.createAnalyzer = () => ({ analyze() { return {}; } });', './noname.js exports no analyzer: the analyzer it exports has no name (a non-empty string); expected a default export or `createAnalyzer()` returning an object with name and analyze(frame)'],
    ['has a factory that returns a Promise', 'async.js', 'exports.createAnalyzer = async () => ({ name: "a", analyze() { return {}; } });', './async.js exports no analyzer: its factory returned a Promise; expected a default export or `createAnalyzer()` returning an object with name and analyze(frame) (load models lazily in analyze, or synchronously)'],
  ])('refuses a module that %s, naming it and what it lacks', async (_, file, text, message) => {
    write(file, text);
    const err = await loadAnalyzerSources([`./${file}`], dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnalyzerModuleError);
    expect((err as Error).message).toBe(message);
  });

  it('refuses a missing file, a missing package and a module that throws on load, naming each', async () => {
    await expect(loadAnalyzerSources(['./absent.js'], dir)).rejects.toThrow(`./absent.js cannot be loaded: no such file from ${dir}`);
    await expect(loadAnalyzerSources(['motoin'], dir)).rejects.toThrow(`motoin cannot be loaded: no such package or built-in analyzer (built-ins: motion, tracks, keypoints; packages resolve from ${dir})`);
    write('broken.js', "throw new Error('model file missing');");
    await expect(loadAnalyzerSources(['./broken.js'], dir)).rejects.toThrow('./broken.js failed to load: model file missing');
  });

  it('loads an ES module (default export and createAnalyzer) in the compiled worker', () => {
    write('esm-default.mjs', `export default ${COUNTING};`);
    write('esm-factory.mjs', `export function createAnalyzer() { return ${COUNTING}; }`);
    write('esm-none.mjs', 'export const threshold = 3;');
    const script = `
      const { loadAnalyzerSources } = require(${JSON.stringify(join(REPO_ROOT, 'dist/libs/worker/src/index.js'))});
      (async () => {
        const [a, b] = await loadAnalyzerSources(['./esm-default.mjs', './esm-factory.mjs'], process.cwd());
        const err = await loadAnalyzerSources(['./esm-none.mjs'], process.cwd()).catch((e) => e.message);
        console.log(JSON.stringify([a().name, (await b().analyze({})).detections.detections[0].classId, err]));
      })();`;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual(['counting', 1, './esm-none.mjs exports no analyzer: expected a default export or `createAnalyzer()` returning an object with name and analyze(frame) (it exports: threshold (number))']);
  });
});
