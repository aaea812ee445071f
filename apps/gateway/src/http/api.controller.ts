// The gateway's REST API: thin adapters from HTTP to the hub, the router and the pipeline health.
import { Body, Controller, Get, Header, Headers, HttpCode, Inject, Post, Query, Res, UseGuards } from '@nestjs/common';
import { subscriptionRefusalToJSON } from '@framewire/proto';
import { CommandRouter } from '@framewire/commands';
import { answerCommand, GatewayMetrics, OPENAPI_DOCUMENT, parseLatestResultQuery, RequestProblem, resultKindName, WebSocketKeepalive, WebSocketUpgrades } from '@framewire/http-edge';
import { PipelineHealth } from '@framewire/pipeline-health';
import { LatestResultJson, matchesIfNoneMatch, ResultHub, ResultRecorder, ResultsWebSocket } from '@framewire/results';
import { FrameRecorder, ReplayWebSocket, VideoRelay, VideoWebSocket } from '@framewire/viewer-video';
import { BearerTokenGuard } from './bearer-token.guard';
import { FRAME_RECORDER, GATEWAY_METRICS, RESULT_RECORDER } from './tokens';
import { ViewerController } from './viewer.controller';

/** What the controllers need of Express's response (@types/express is not installed). */
interface StatusResponse {
  status(code: number): unknown;
}

interface HeaderResponse extends StatusResponse {
  setHeader(name: string, value: string): unknown;
}


@Controller('api')
export class ApiController {
  constructor(
    private readonly hub: ResultHub,
    private readonly router: CommandRouter,
    private readonly health: PipelineHealth,
    private readonly websocket: ResultsWebSocket,
    @Inject(RESULT_RECORDER) private readonly recorder: ResultRecorder | null,
    @Inject(GATEWAY_METRICS) private readonly metrics: GatewayMetrics,
    private readonly relay: VideoRelay,
    private readonly video: VideoWebSocket,
    private readonly replay: ReplayWebSocket,
    @Inject(FRAME_RECORDER) private readonly frameRecorder: FrameRecorder | null,
    private readonly upgrades: WebSocketUpgrades,
    private readonly keepalive: WebSocketKeepalive,
  ) {}

  private readonly latestJson = new LatestResultJson(resultKindName);

  @Get('health')
  async getHealth(@Res({ passthrough: true }) res: StatusResponse) {
    const report = await this.health.report();
    res.status(report.status === 'ok' ? 200 : 503);
    return report;
  }

  @Get('stats')
  async getStats() {
    const supplier = await this.health.supplierStats();
    const available = !('error' in supplier);
    return {
      supplier: available
        ? { available, streams: supplier.streams, workers: supplier.workers, refused: supplier.refused.map((r) => ({ ...r, reason: subscriptionRefusalToJSON(r.reason) })), pools: supplier.pools }
        : { available, error: supplier.error, streams: [], workers: [], refused: [], pools: [] },
      capture: {
        streams: available
          ? supplier.streams.map((s) => ({ streamId: s.streamId, publishRateFps: s.publishRateFps, framesPublished: s.framesPublished, lastSequence: s.lastSequence }))
          : [],
      },
      workers: this.hub.workers(),
      results: this.hub.stats(),
      commands: this.router.stats(),
      websocket: this.websocket.stats(),
      upgrades: this.upgrades.stats(),
      keepalive: this.keepalive.stats(),
      archive: this.recorder?.stats() ?? null,
      viewer: {
        relay: this.relay.stats(),
        video: this.video.stats(),
        replay: this.replay.stats(),
        frameArchive: this.frameRecorder?.stats() ?? null,
      },
    };
  }

  @Get('streams')
  async getStreams() {
    const supplier = await this.health.supplierStats();
    const supplierStreams = 'error' in supplier ? [] : supplier.streams;
    const results = new Map(this.hub.streams().map((s) => [s.streamId, s]));
    const ids = [...new Set([...results.keys(), ...supplierStreams.map((s) => s.streamId)])].sort();
    return {
      streams: ids.map((streamId) => {
        const r = results.get(streamId);
        return {
          streamId,
          results: r === undefined ? null : { ...r, kinds: r.kinds.map(resultKindName) },
          supplier: supplierStreams.find((s) => s.streamId === streamId) ?? null,
        };
      }),
    };
  }

  @Get('results/latest')
  @UseGuards(BearerTokenGuard)
  getLatestResult(@Query() query: Record<string, unknown>, @Headers('if-none-match') ifNoneMatch: string | undefined, @Res({ passthrough: true }) res: HeaderResponse) {
    const { streamId, kind, workerId } = parseLatestResultQuery(query);
    const latest = this.hub.latest(streamId, kind, workerId);
    if (latest === undefined) {
      const of = workerId === undefined ? '' : ` from worker ${JSON.stringify(workerId)}`;
      throw new RequestProblem(workerId === undefined ? 'stream' : 'worker', `no ${resultKindName(kind)} result for stream ${JSON.stringify(streamId)}${of} yet`, 404);
    }
    const etag = this.latestJson.etag(latest);
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', 'no-cache');
    if (matchesIfNoneMatch(ifNoneMatch, etag)) {
      res.status(304);
      return undefined;
    }
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    return this.latestJson.render(latest).json;
  }

  @Post('commands')
  @HttpCode(200)
  @UseGuards(BearerTokenGuard)
  async postCommand(@Body() body: unknown, @Res({ passthrough: true }) res: StatusResponse) {
    const answer = await answerCommand(this.router, body);
    this.metrics.countCommandAnswer(answer.body.status);
    res.status(answer.status);
    return answer.body;
  }

  @Get('openapi.json')
  getOpenApi() {
    return OPENAPI_DOCUMENT;
  }
}

@Controller()
export class MetricsController {
  constructor(@Inject(GATEWAY_METRICS) private readonly metrics: GatewayMetrics) {}

  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  getMetrics(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}

/** Every controller of the gateway's HTTP API (the OpenAPI coverage test walks these). */
export const GATEWAY_CONTROLLERS = [ApiController, MetricsController, ViewerController] as const;
