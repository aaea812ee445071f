// One AnalysisPipeline per stream, for a worker that serves several streams (a pool member): each
// stream's analyzers keep their own state (background model, tracks, keypoint ids), so one camera's
// tracks never meet another's. Pipelines are made on a stream's first frame, configured like every
// other (commands reach all streams, and streams that come later), and bounded: a stream not seen
// for `idleMs` loses its state (its frames went to another pool member, or stopped), and beyond
// `maxStreams` the stream seen least recently does. An analyzer with analyzeBatch is one instance
// shared by every stream's pipeline (it is a model; it keys any state by stream itself), so that a
// pool member's batch of frames of several streams reaches it in one call (runBatch).
import { Analyzer, AnalyzerOutputs } from './analyzer';
import { AnalysisPipeline, createAnalyzers, PipelineInput } from './pipeline';

/** Streams whose state a worker keeps by default: the supplier's default FW_SUPPLIER_MAX_STREAMS. */
export const DEFAULT_MAX_STREAM_STATES = 16;
/** A stream not seen for this long loses its state by default: by then its objects have moved on,
 *  and its frames usually go to another member (a sticky pool moved the stream away). */
export const DEFAULT_STREAM_IDLE_MS = 10_000;

export interface StreamPipelinesOptions {
  /** The built-in analyzers of every stream's pipeline, in order (createAnalyzers). */
  analyzers: readonly string[];
  maxStreams?: number;
  idleMs?: number;
  /** Makes a stream's analyzers (default: the built-ins named by `analyzers`). */
  createAnalyzers?: (names: readonly string[]) => Analyzer[];
}

export interface StreamPipelinesStats {
  /** Pipelines made (a stream's first frame, or its first after its state was dropped). */
  created: number;
  /** States dropped because their stream was not seen for idleMs. */
  droppedIdle: number;
  /** States dropped to make room for another stream (more than maxStreams). */
  droppedForRoom: number;
}

interface StreamState {
  pipeline: AnalysisPipeline;
  lastSeenMs: number;
}

export class StreamPipelines {
  readonly maxStreams: number;
  readonly idleMs: number;
  readonly stats: StreamPipelinesStats = { created: 0, droppedIdle: 0, droppedForRoom: 0 };
  /** Never runs: it takes every configuration first (all-or-nothing), and new pipelines copy it. */
  private readonly template: AnalysisPipeline;
  /** By stream, least recently seen first (a stream seen again moves to the end). */
  private readonly states = new Map<string, StreamState>();
  private readonly make: () => AnalysisPipeline;

  constructor(options: StreamPipelinesOptions) {
    this.maxStreams = options.maxStreams ?? DEFAULT_MAX_STREAM_STATES;
    this.idleMs = options.idleMs ?? DEFAULT_STREAM_IDLE_MS;
    if (!(Number.isInteger(this.maxStreams) && this.maxStreams >= 1)) throw new RangeError(`maxStreams must be an integer >= 1, got ${this.maxStreams}`);
    if (!(this.idleMs > 0)) throw new RangeError(`idleMs must be > 0, got ${this.idleMs}`);
    const create = options.createAnalyzers ?? createAnalyzers;
    this.template = new AnalysisPipeline(create(options.analyzers));
    const shared = this.template.analyzers.map((a) => (a.analyzeBatch === undefined ? undefined : a));
    this.make = () => new AnalysisPipeline(create(options.analyzers).map((a, i) => shared[i] ?? a));
  }

  /** Names of the analyzers, in pipeline order. */
  get names(): string[] {
    return this.template.names;
  }

  /** The streams that have state now, least recently seen first. */
  get streams(): string[] {
    return [...this.states.keys()];
  }

  /** Runs `streamId`'s pipeline on one of its frames (making it on the stream's first frame). */
  run(streamId: string, input: PipelineInput, nowMs: number): Promise<AnalyzerOutputs> {
    return this.pipelineOf(streamId, nowMs).run(input);
  }

  /** Runs each input's stream pipeline on it, batched where an analyzer has analyzeBatch
   *  (AnalysisPipeline.runBatch); the inputs are of distinct streams. */
  runBatch(inputs: readonly PipelineInput[], nowMs: number): Promise<AnalyzerOutputs[]> {
    return AnalysisPipeline.runBatch(
      inputs.map((input) => this.pipelineOf(input.streamId, nowMs)),
      inputs,
    );
  }

  /** `streamId`'s pipeline, made if it has none; drops the states of streams idle for idleMs and,
   *  when full, the least recently seen one. */
  pipelineOf(streamId: string, nowMs: number): AnalysisPipeline {
    for (const [id, state] of this.states) {
      if (nowMs - state.lastSeenMs <= this.idleMs) break; // the rest were seen later
      this.states.delete(id);
      this.stats.droppedIdle++;
    }
    let state = this.states.get(streamId);
    if (state === undefined) {
      if (this.states.size >= this.maxStreams) {
        this.states.delete(this.states.keys().next().value as string);
        this.stats.droppedForRoom++;
      }
      state = { pipeline: this.newPipeline(), lastSeenMs: nowMs };
      this.stats.created++;
    } else {
      this.states.delete(streamId);
      state.lastSeenMs = nowMs;
    }
    this.states.set(streamId, state);
    return state.pipeline;
  }

  isEnabled(name: string): boolean {
    return this.template.isEnabled(name);
  }

  /** Applies `changes` to one analyzer of every stream, and of streams that come later;
   *  all-or-nothing as AnalysisPipeline.configure (checked on the template first). */
  configure(name: string, changes: Record<string, unknown>): void {
    this.template.configure(name, changes);
    for (const { pipeline } of this.states.values()) pipeline.configure(name, changes);
  }

  /** Every analyzer's settings plus its `enabled` flag (the same for every stream). */
  settings(): Record<string, Record<string, unknown>> {
    return this.template.settings();
  }

  /** Drops every stream's state. */
  clear(): void {
    this.states.clear();
  }

  private newPipeline(): AnalysisPipeline {
    const pipeline = this.make();
    for (const [name, settings] of Object.entries(this.template.settings())) pipeline.configure(name, settings);
    return pipeline;
  }
}
