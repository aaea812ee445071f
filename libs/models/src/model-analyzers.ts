// The model analyzers a worker can name (FW_WORKER_ANALYZERS=detect,tracks,pose) and their start:
// each model they need is loaded ONCE per process on its own ModelRunner thread and warmed up (its
// first inference is several times slower), before the worker takes a frame; every stream's
// analyzer instance shares that runner; close() stops the threads. A missing or corrupt model file
// fails the start with ModelFileError naming it.
import { Analyzer } from '@framewire/analysis';
import { DetectAnalyzer } from './detect';
import type { InferenceBackend } from './inference-protocol';
import { findModelsDirectory, type ModelName } from './model-files';
import { ModelRunner } from './model-runner';
import { PersonSegAnalyzer } from './person-seg';
import { PoseAnalyzer } from './pose';

/** What a model analyzer needs: its model, and how to make one (per stream) on the shared runner. */
export interface ModelAnalyzerKind {
  model: ModelName;
  create(runner: ModelRunner): Analyzer;
}

/** Every model analyzer by the name FW_WORKER_ANALYZERS gives it. */
export const MODEL_ANALYZERS: Readonly<Record<string, ModelAnalyzerKind>> = Object.freeze({
  detect: { model: 'centernet', create: (runner: ModelRunner) => new DetectAnalyzer(runner) },
  pose: { model: 'movenet-multipose', create: (runner: ModelRunner) => new PoseAnalyzer(runner) },
  'person-seg': { model: 'selfie', create: (runner: ModelRunner) => new PersonSegAnalyzer(runner) },
});

/** Whether `name` is a model analyzer's. */
export function isModelAnalyzer(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(MODEL_ANALYZERS, name);
}

/** The warm-up frame: mid grey, the default analysis width (320) at 4:3. */
const WARM_UP_WIDTH = 320;
const WARM_UP_HEIGHT = 240;
const WARM_UP_GREY = 128;

export interface ModelAnalyzersOptions {
  /** Folder of the model files (FW_MODELS_DIR); undefined: findModelsDirectory(). Read only when a
   *  model analyzer is named. */
  modelsDir?: string;
  backend?: InferenceBackend;
}

/** One started model of a worker, for its log line. */
export interface StartedModel {
  model: ModelName;
  analyzers: string[];
  backend: string;
  loadMs: number;
  warmUpMs: number;
}

export class ModelAnalyzers {
  private constructor(
    /** A factory per model analyzer named at start: a new analyzer (a stream's) on the shared runner. */
    readonly factories: Readonly<Record<string, () => Analyzer>>,
    private readonly runners: ReadonlyMap<ModelName, ModelRunner>,
    readonly started: readonly StartedModel[],
  ) {}

  /** Starts the models of the model analyzers among `names` (other names are ignored), each once,
   *  and warms each analyzer up on a grey frame. On any failure every runner started is closed and
   *  the error (ModelFileError naming the file) is thrown. */
  static async start(names: readonly string[], options: ModelAnalyzersOptions = {}): Promise<ModelAnalyzers> {
    const wanted = names.filter(isModelAnalyzer);
    if (wanted.length === 0) return new ModelAnalyzers({}, new Map(), []);
    const modelsDir = findModelsDirectory(options.modelsDir);
    const models = [...new Set(wanted.map((name) => MODEL_ANALYZERS[name].model))];
    const starts = await Promise.allSettled(models.map((model) => ModelRunner.start({ model, modelsDir, backend: options.backend })));
    const runners = new Map<ModelName, ModelRunner>();
    starts.forEach((s, i) => s.status === 'fulfilled' && runners.set(models[i], s.value));
    const failed = starts.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all([...runners.values()].map((r) => r.close()));
      throw failed.reason;
    }
    const factories: Record<string, () => Analyzer> = {};
    const started: StartedModel[] = [];
    try {
      for (const [model, runner] of runners) {
        const t0 = performance.now();
        const analyzers = wanted.filter((name) => MODEL_ANALYZERS[name].model === model);
        for (const name of analyzers) {
          const kind = MODEL_ANALYZERS[name];
          await kind.create(runner).analyze(warmUpInput());
          factories[name] = () => kind.create(runner);
        }
        started.push({ model, analyzers, backend: runner.backendName, loadMs: Math.round(runner.loadMs), warmUpMs: Math.round(performance.now() - t0) });
      }
    } catch (err) {
      await Promise.all([...runners.values()].map((r) => r.close()));
      throw err;
    }
    return new ModelAnalyzers(factories, runners, started);
  }

  /** The runner of `model`, when one of the named analyzers needs it. */
  runnerOf(model: ModelName): ModelRunner | undefined {
    return this.runners.get(model);
  }

  /** Stops every model thread (analyzers still holding a runner fail their next frame). */
  async close(): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.close()));
  }
}

function warmUpInput() {
  return {
    streamId: 'warm-up',
    frameSequence: 0,
    captureTimeUs: 0,
    frameWidth: WARM_UP_WIDTH,
    frameHeight: WARM_UP_HEIGHT,
    image: { width: WARM_UP_WIDTH, height: WARM_UP_HEIGHT, data: new Uint8Array(WARM_UP_WIDTH * WARM_UP_HEIGHT * 3).fill(WARM_UP_GREY) },
    scale: 1,
    earlier: {},
  };
}
