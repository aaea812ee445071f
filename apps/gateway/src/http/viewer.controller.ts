// The live viewer page (apps/viewer, bundled into dist/viewer by `npm run build`) and what the page
// asks besides the REST API: the streams recorded in the archive, for replay.
import { Controller, Get, Header, Inject, Query, UseGuards } from '@nestjs/common';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { listSegments } from '@framewire/archive';
import { recordedStreams } from '@framewire/results';
import { FRAME_ARCHIVE_BASE_NAME } from '@framewire/viewer-video';
import type { GatewayConfig } from '../config';
import { BearerTokenGuard } from './bearer-token.guard';
import { parseNoQuery, RequestProblem } from '@framewire/http-edge';
import { SERVICE_CONFIG } from '@framewire/service-runtime';

/** The files of the page, as the build writes them. */
export const VIEWER_FILES = { page: 'index.html', script: 'viewer.js', styles: 'viewer.css' } as const;

/** Where the bundle is: dist/viewer, from the compiled gateway (dist/apps/gateway/src/http) or from
 *  its sources (apps/gateway/src/http, under Jest). */
export function defaultViewerDirectory(): string {
  const root = resolve(__dirname, '../../../..');
  const candidates = [join(root, 'viewer'), join(root, 'dist', 'viewer')];
  return candidates.find((dir) => existsSync(join(dir, VIEWER_FILES.page))) ?? candidates[0];
}

/** The page's files, read once (they change only with a build, and a build restarts nothing). */
export class ViewerAssets {
  private readonly files = new Map<string, string>();

  constructor(readonly directory: string = defaultViewerDirectory()) {
    for (const name of Object.values(VIEWER_FILES)) {
      const path = join(directory, name);
      // Text (a Buffer would be serialized as JSON by Nest).
      if (existsSync(path)) this.files.set(name, readFileSync(path, 'utf8'));
    }
  }

  file(name: string): string {
    const bytes = this.files.get(name);
    if (bytes === undefined) throw new RequestProblem('path', `the viewer is not built (${join(this.directory, name)} is missing): run npm run build`, 503);
    return bytes;
  }
}

@Controller()
export class ViewerController {
  constructor(
    private readonly assets: ViewerAssets,
    @Inject(SERVICE_CONFIG) private readonly config: GatewayConfig,
  ) {}

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-cache')
  getPage(): string {
    return this.assets.file(VIEWER_FILES.page);
  }

  @Get(VIEWER_FILES.script)
  @Header('content-type', 'text/javascript; charset=utf-8')
  @Header('cache-control', 'no-cache')
  getScript(): string {
    return this.assets.file(VIEWER_FILES.script);
  }

  @Get(VIEWER_FILES.styles)
  @Header('content-type', 'text/css; charset=utf-8')
  @Header('cache-control', 'no-cache')
  getStyles(): string {
    return this.assets.file(VIEWER_FILES.styles);
  }

  @Get('api/replay/streams')
  @UseGuards(BearerTokenGuard)
  async getRecordedStreams(@Query() query: Record<string, unknown>) {
    parseNoQuery(query);
    const streams = await recordedStreams(this.config.archive.directory);
    const framesDirectory = this.config.viewer.frameArchiveDirectory;
    return {
      frameRecording: this.config.viewer.recordFrames,
      streams: await Promise.all(
        streams.map(async (s) => ({ ...s, frames: (await listSegments(framesDirectory, FRAME_ARCHIVE_BASE_NAME, s.streamId)).length > 0 })),
      ),
    };
  }
}
