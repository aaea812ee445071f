import { AnalysisPipeline, AnalyzerSettingsError, createAnalyzers, StreamPipelines } from '@framewire/analysis';
import { FramePacer } from './frame-pacer';
import { resultsOf } from './results';
import { workerCommandHandlers } from './worker-commands';

describe('worker command handlers', () => {
  const setup = () => {
    const pipeline = new AnalysisPipeline(createAnalyzers(['motion', 'tracks', 'keypoints']));
    const pacer = new FramePacer(0);
    return { pipeline, pacer, handlers: workerCommandHandlers(pipeline, pacer) };
  };

  it('worker.set_analyzer switches an analyzer off and on', () => {
    const { pipeline, handlers } = setup();
    const message = handlers['worker.set_analyzer']({ analyzer: 'keypoints', enabled: false });
    expect(pipeline.isEnabled('keypoints')).toBe(false);
    expect(message).toMatch(/^keypoints: \{"enabled":false/);
    handlers['worker.set_analyzer']({ analyzer: 'keypoints', enabled: true });
    expect(pipeline.isEnabled('keypoints')).toBe(true);
  });

  it('worker.set_analyzer changes settings, and a refused one throws naming the setting', () => {
    const { pipeline, handlers } = setup();
    const threshold = pipeline.settings().motion.threshold as number;
    handlers['worker.set_analyzer']({ analyzer: 'motion', settings: { threshold: threshold + 5 } });
    expect(pipeline.settings().motion.threshold).toBe(threshold + 5);
    expect(() => handlers['worker.set_analyzer']({ analyzer: 'motion', settings: { threshold: -3 } })).toThrow(AnalyzerSettingsError);
    expect(() => handlers['worker.set_analyzer']({ analyzer: 'motion', settings: { threshold: -3 } })).toThrow(/motion\.threshold/);
    expect(pipeline.settings().motion.threshold).toBe(threshold + 5);
  });

  it('worker.set_fps changes the target rate', () => {
    const { pacer, handlers } = setup();
    expect(handlers['worker.set_fps']({ fps: 5 })).toBe('fps: 5');
    expect(pacer.fps).toBe(5);
    expect(() => handlers['worker.set_fps']({ fps: 500 })).toThrow(RangeError);
  });
});

describe('resultsOf', () => {
  const envelope = { streamId: 'cam-1', frameSequence: 7, captureTimeUs: 1_000_000, workerId: 'w', processingUs: 1234.6, publishedTimeUs: 2_000_000.4 };

  it('makes one result per output kind, each with the whole envelope in whole microseconds', () => {
    const results = resultsOf({ detections: { detections: [] }, tracks: { tracks: [] }, keypoints: { points: [], pointNames: {} } }, envelope);
    expect(results.map((r) => Object.keys(r).filter((k) => ['detections', 'tracks', 'keypoints', 'segmentation', 'stage'].includes(k)))).toEqual([
      ['detections'],
      ['tracks'],
      ['keypoints'],
    ]);
    for (const r of results) {
      expect(r).toMatchObject({ streamId: 'cam-1', frameSequence: 7, captureTimeUs: 1_000_000, workerId: 'w', processingUs: 1235, publishedTimeUs: 2_000_000 });
    }
  });

  it('makes no result when no analyzer produced anything', () => {
    expect(resultsOf({}, envelope)).toEqual([]);
  });

  it('worker.set_analyzer reaches every stream of a worker of several, and streams that come later', () => {
    const pipelines = new StreamPipelines({ analyzers: ['motion', 'tracks', 'keypoints'] });
    const handlers = workerCommandHandlers(pipelines, new FramePacer(0));
    const before = pipelines.pipelineOf('cam-1', 0);
    handlers['worker.set_analyzer']({ analyzer: 'keypoints', enabled: false });
    handlers['worker.set_analyzer']({ analyzer: 'motion', settings: { threshold: 40 } });
    for (const pipeline of [before, pipelines.pipelineOf('cam-2', 1)]) {
      expect(pipeline.isEnabled('keypoints')).toBe(false);
      expect(pipeline.settings().motion.threshold).toBe(40);
    }
    expect(() => handlers['worker.set_analyzer']({ analyzer: 'motion', settings: { threshold: -3 } })).toThrow(AnalyzerSettingsError);
    expect(before.settings().motion.threshold).toBe(40);
  });
});
