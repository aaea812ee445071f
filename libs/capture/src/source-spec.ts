// Choosing a source from its configuration string: `synthetic`, `images:<folder>` or
// `ffmpeg:<url-or-path>`.
import { SourceSpecError } from './errors';
import { ffmpegSource } from './ffmpeg';
import { CaptureLogger, FrameSource } from './frame';
import { imageFolderSource } from './images';
import { syntheticSource } from './synthetic';

export type SourceSpec = { kind: 'synthetic' } | { kind: 'images'; folder: string } | { kind: 'ffmpeg'; input: string };

export function parseSourceSpec(spec: string): SourceSpec {
  if (spec === 'synthetic') return { kind: 'synthetic' };
  const m = /^(images|ffmpeg):(.+)$/s.exec(spec);
  if (!m) throw new SourceSpecError(spec);
  return m[1] === 'images' ? { kind: 'images', folder: m[2] } : { kind: 'ffmpeg', input: m[2] };
}

/** The rate of the synthetic and image sources when none is set. */
export const DEFAULT_CAPTURE_FPS = 15;

export interface SourceSettings {
  /** FW_CAPTURE_FPS. Synthetic and images: their rate (default DEFAULT_CAPTURE_FPS). ffmpeg: a cap on
   *  the stream's own rate, met by dropping frames (default none: every frame at the stream's rate). */
  fps?: number;
  /** Size of the synthetic scene; images and ffmpeg keep their own size. */
  width: number;
  height: number;
  seed: number;
  loop: boolean;
  jpegQuality: number;
  logger?: CaptureLogger;
}

export function createSource(spec: string | SourceSpec, settings: SourceSettings): FrameSource {
  const s = typeof spec === 'string' ? parseSourceSpec(spec) : spec;
  const fps = settings.fps ?? DEFAULT_CAPTURE_FPS;
  switch (s.kind) {
    case 'synthetic':
      return syntheticSource({ width: settings.width, height: settings.height, fps, seed: settings.seed, jpegQuality: settings.jpegQuality });
    case 'images':
      return imageFolderSource({ folder: s.folder, fps, loop: settings.loop });
    case 'ffmpeg':
      return ffmpegSource({ input: s.input, maxFps: settings.fps, loop: settings.loop, jpegQuality: settings.jpegQuality, logger: settings.logger });
  }
}
