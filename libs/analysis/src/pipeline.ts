// The analysis pipeline: analyzers run in order on each frame, each seeing the outputs of those
// before it (`earlier`); each can be switched on and off and reconfigured at run time. Analyzers may
// be asynchronous, and a batch of frames (one per stream pipeline) goes through analyzeBatch where
// an analyzer shared by those pipelines has it.
import { Analyzer, AnalyzerFailedError, AnalyzerInput, AnalyzerOutputs, AnalyzerSettingsError } from './analyzer';
import { UnknownAnalyzerError } from './errors';
import { KEYPOINTS_ANALYZER, KeypointsAnalyzer } from './keypoints';
import { MOTION_ANALYZER, MotionAnalyzer } from './motion';
import { TRACK_ANALYZER, TrackAnalyzer } from './tracker';

/** The built-in analyzers in their natural order: each one's input is the previous ones' output. */
export const BUILT_IN_ANALYZERS = [MOTION_ANALYZER, TRACK_ANALYZER, KEYPOINTS_ANALYZER] as const;
export type BuiltInAnalyzerName = (typeof BUILT_IN_ANALYZERS)[number];

/** The setting that `configure` and `settings` use for on/off; no analyzer may define its own. */
export const ENABLED_SETTING = 'enabled';

/** New instances of the named built-in analyzers, in the order given. */
export function createAnalyzers(names: readonly string[]): Analyzer[] {
  const seen = new Set<string>();
  return names.map((name) => {
    if (seen.has(name)) throw new AnalyzerSettingsError(name, ENABLED_SETTING, 'named twice in the analyzer list');
    seen.add(name);
    switch (name) {
      case MOTION_ANALYZER:
        return new MotionAnalyzer();
      case TRACK_ANALYZER:
        return new TrackAnalyzer();
      case KEYPOINTS_ANALYZER:
        return new KeypointsAnalyzer();
      default:
        throw new UnknownAnalyzerError(name, BUILT_IN_ANALYZERS);
    }
  });
}

export type PipelineInput = Omit<AnalyzerInput, 'earlier'>;

export class AnalysisPipeline {
  private readonly entries: { analyzer: Analyzer; enabled: boolean }[];

  constructor(analyzers: readonly Analyzer[]) {
    const names = new Set<string>();
    for (const a of analyzers) {
      if (names.has(a.name)) throw new AnalyzerSettingsError(a.name, ENABLED_SETTING, 'two analyzers of the pipeline have this name');
      names.add(a.name);
    }
    this.entries = analyzers.map((analyzer) => ({ analyzer, enabled: true }));
  }

  /** Names of the analyzers, in pipeline order. */
  get names(): string[] {
    return this.entries.map((e) => e.analyzer.name);
  }

  isEnabled(name: string): boolean {
    return this.entry(name).enabled;
  }

  /** Switches an analyzer on or off. Switching on resets it: state from before the pause is stale. */
  setEnabled(name: string, on: boolean): void {
    const entry = this.entry(name);
    if (on && !entry.enabled) entry.analyzer.reset?.();
    entry.enabled = on;
  }

  /**
   * Applies `changes` to one analyzer; an `enabled` boolean among them switches it on or off.
   * All-or-nothing: on any refused value nothing changes (AnalyzerSettingsError).
   */
  configure(name: string, changes: Record<string, unknown>): void {
    const entry = this.entry(name);
    if (changes === null || typeof changes !== 'object' || Array.isArray(changes)) {
      throw new AnalyzerSettingsError(name, '*', 'settings must be an object');
    }
    const { [ENABLED_SETTING]: enabled, ...rest } = changes;
    if (enabled !== undefined && typeof enabled !== 'boolean') {
      throw new AnalyzerSettingsError(name, ENABLED_SETTING, `must be true or false, got ${JSON.stringify(enabled)}`);
    }
    if (Object.keys(rest).length > 0) {
      if (entry.analyzer.configure === undefined) throw new AnalyzerSettingsError(name, Object.keys(rest)[0], 'this analyzer takes no settings');
      entry.analyzer.configure(rest);
    }
    if (enabled !== undefined) this.setEnabled(name, enabled);
  }

  /** Every analyzer's settings plus its `enabled` flag, keyed by analyzer name. */
  settings(): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const e of this.entries) out[e.analyzer.name] = { [ENABLED_SETTING]: e.enabled, ...e.analyzer.settings?.() };
    return out;
  }

  /**
   * Runs the enabled analyzers in order on one frame and merges their outputs. A disabled analyzer
   * contributes nothing, so those after it see its outputs as absent (e.g. tracks without motion
   * get no detections and let their tracks age out). An analyzer that throws or rejects fails the
   * frame with AnalyzerFailedError naming it.
   */
  async run(input: PipelineInput): Promise<AnalyzerOutputs> {
    const merged: AnalyzerOutputs = {};
    for (const e of this.entries) {
      if (e.enabled) mergeInto(merged, await analyzeOne(e.analyzer, { ...input, earlier: merged }));
    }
    return merged;
  }

  /**
   * Runs pipelines[i] on inputs[i] for every i, analyzer by analyzer in pipeline order (the pipelines
   * are configured alike: StreamPipelines). Where every pipeline holds the same analyzer instance and
   * it has analyzeBatch, that analyzer sees all the frames in one call. A failing analyzer fails the
   * whole batch (AnalyzerFailedError).
   */
  static async runBatch(pipelines: readonly AnalysisPipeline[], inputs: readonly PipelineInput[]): Promise<AnalyzerOutputs[]> {
    if (pipelines.length !== inputs.length) throw new RangeError(`runBatch: ${pipelines.length} pipelines for ${inputs.length} inputs`);
    const merged: AnalyzerOutputs[] = inputs.map(() => ({}));
    if (pipelines.length === 0) return merged;
    const steps = pipelines[0].entries.length;
    for (let step = 0; step < steps; step++) {
      const entries = pipelines.map((p) => p.entries[step]);
      const shared = entries[0].analyzer;
      const batchable = shared.analyzeBatch !== undefined && entries.length > 1 && entries.every((e) => e.analyzer === shared && e.enabled);
      if (batchable) {
        const outs = await analyzeMany(shared, shared.analyzeBatch as NonNullable<Analyzer['analyzeBatch']>, inputs.map((input, i) => ({ ...input, earlier: merged[i] })));
        outs.forEach((out, i) => mergeInto(merged[i], out));
        continue;
      }
      for (let i = 0; i < entries.length; i++) {
        if (entries[i].enabled) mergeInto(merged[i], await analyzeOne(entries[i].analyzer, { ...inputs[i], earlier: merged[i] }));
      }
    }
    return merged;
  }

  /** The analyzer of each step, in pipeline order (StreamPipelines shares the batchable ones). */
  get analyzers(): Analyzer[] {
    return this.entries.map((e) => e.analyzer);
  }

  /** Resets every analyzer (a gap in the stream, a source switch). */
  reset(): void {
    for (const e of this.entries) e.analyzer.reset?.();
  }

  private entry(name: string): { analyzer: Analyzer; enabled: boolean } {
    const entry = this.entries.find((e) => e.analyzer.name === name);
    if (entry === undefined) throw new UnknownAnalyzerError(name, this.names);
    return entry;
  }
}

async function analyzeOne(analyzer: Analyzer, input: AnalyzerInput): Promise<AnalyzerOutputs> {
  try {
    return await analyzer.analyze(input);
  } catch (err) {
    throw new AnalyzerFailedError(analyzer.name, err);
  }
}

async function analyzeMany(analyzer: Analyzer, analyzeBatch: NonNullable<Analyzer['analyzeBatch']>, inputs: AnalyzerInput[]): Promise<readonly AnalyzerOutputs[]> {
  let outs: readonly AnalyzerOutputs[];
  try {
    outs = await analyzeBatch.call(analyzer, inputs);
  } catch (err) {
    throw new AnalyzerFailedError(analyzer.name, err);
  }
  if (!Array.isArray(outs) || outs.length !== inputs.length) {
    throw new AnalyzerFailedError(analyzer.name, new TypeError(`analyzeBatch returned ${Array.isArray(outs) ? outs.length : typeof outs} outputs for ${inputs.length} frames`));
  }
  return outs;
}

function mergeInto(merged: AnalyzerOutputs, out: AnalyzerOutputs | undefined): void {
  // A user analyzer that returns nothing for a frame contributes nothing.
  if (out === undefined || out === null) return;
  if (out.segmentation !== undefined) merged.segmentation = out.segmentation;
  if (out.detections !== undefined) merged.detections = out.detections;
  if (out.tracks !== undefined) merged.tracks = out.tracks;
  if (out.keypoints !== undefined) merged.keypoints = out.keypoints;
  if (out.stage !== undefined) merged.stage = out.stage;
}
