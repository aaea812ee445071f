// The worker's command handlers (worker.set_analyzer, worker.set_fps): they change the running
// pipelines (every stream's, for a worker of several) and frame rate. Payloads arrive validated against the catalog of @framewire/commands;
// a refused setting throws, so the acknowledgement is an ERROR that names it.
import { AnalysisPipeline } from '@framewire/analysis';

/** What the handlers change: one pipeline, or StreamPipelines (all of a worker's streams). */
export type ConfigurableAnalysis = Pick<AnalysisPipeline, 'configure' | 'settings'>;
import { FramePacer } from './frame-pacer';

export interface SetAnalyzerPayload {
  analyzer: string;
  enabled?: boolean;
  settings?: Record<string, unknown>;
}

export interface SetFpsPayload {
  fps: number;
}

export type WorkerCommandHandlers = {
  'worker.set_analyzer': (payload: SetAnalyzerPayload) => string;
  'worker.set_fps': (payload: SetFpsPayload) => string;
};

/** Handlers over the worker's pipeline and pacer; each returns the ack message (the new state). */
export function workerCommandHandlers(pipeline: ConfigurableAnalysis, pacer: FramePacer): WorkerCommandHandlers {
  return {
    'worker.set_analyzer': ({ analyzer, enabled, settings }) => {
      // One all-or-nothing change: settings first, then on/off (AnalysisPipeline.configure).
      pipeline.configure(analyzer, { ...settings, ...(enabled === undefined ? {} : { enabled }) });
      return `${analyzer}: ${JSON.stringify(pipeline.settings()[analyzer])}`;
    },
    'worker.set_fps': ({ fps }) => {
      pacer.setFps(fps);
      return fps === 0 ? 'fps: as fast as frames come' : `fps: ${fps}`;
    },
  };
}
