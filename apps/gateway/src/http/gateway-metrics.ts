// Prometheus metrics of the gateway, served at GET /metrics from a Registry of its own. Most are
// read from the hub, recorder, router and WebSocket statistics at scrape time; results by kind and
// HTTP command answers are counted as they happen.
import { Counter, Gauge, Registry } from 'prom-client';
import type { PublishedResult, ResultHub, ResultRecorder, ResultsWebSocket } from '@framewire/results';
import type { WebSocketKeepalive } from '@framewire/http-edge';
import { RESULT_KIND_NAMES } from '@framewire/http-edge';

const PREFIX = 'framewire_gateway_';
const KIND_NAME_OF = new Map(Object.entries(RESULT_KIND_NAMES).map(([name, kind]) => [kind, name]));

export interface GatewayMetricsSources {
  hub: ResultHub;
  recorder: ResultRecorder | null;
  websocket: ResultsWebSocket;
  keepalive: WebSocketKeepalive;
  /** The router's counters (name → value), exported as framewire_gateway_commands{counter=...}. */
  commandCounters: () => Record<string, number>;
}

/** Numeric fields of an object, for exporting a stats record as labelled gauges. */
function numericFields(record: object): [string, number][] {
  return Object.entries(record).filter((e): e is [string, number] => typeof e[1] === 'number');
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly resultsByKind: Counter<'kind'>;
  private readonly commandAnswers: Counter<'status'>;

  constructor(sources: GatewayMetricsSources) {
    const registers = [this.registry];
    const { hub, recorder, websocket, keepalive } = sources;
    this.resultsByKind = new Counter({
      name: `${PREFIX}results_received_total`,
      help: 'Results accepted by the hub, by kind.',
      labelNames: ['kind'] as const,
      registers,
    });
    hub.addTap((p: PublishedResult) => this.resultsByKind.inc({ kind: KIND_NAME_OF.get(p.kind) ?? 'unspecified' }));
    new Counter({
      name: `${PREFIX}results_rejected_total`,
      help: 'Results refused by validation (malformed, oversized, no payload).',
      registers,
      collect() {
        this.reset();
        this.inc(hub.stats().rejected);
      },
    });
    new Gauge({
      name: `${PREFIX}result_subscribers`,
      help: 'Live result subscriptions (gRPC SubscribeResults and WebSocket clients).',
      registers,
      collect() {
        this.set(hub.stats().subscribers);
      },
    });
    new Counter({
      name: `${PREFIX}subscriber_drops_total`,
      help: 'Results dropped from subscriber queues because the subscriber did not keep up.',
      registers,
      collect() {
        this.reset();
        this.inc(hub.stats().subscriberDrops);
      },
    });
    new Gauge({
      name: `${PREFIX}result_queued_bytes`,
      help: 'Bytes of the distinct results waiting in subscriber queues (bounded by FW_RESULTS_QUEUE_BYTES).',
      registers,
      collect() {
        this.set(hub.stats().queuedBytes);
      },
    });
    new Gauge({
      name: `${PREFIX}result_transport_bytes`,
      help: "Bytes of results in subscribers' transports, taken from their queues and not yet handed on (counted in FW_RESULTS_QUEUE_BYTES).",
      registers,
      collect() {
        this.set(hub.stats().transportBytes);
      },
    });
    new Counter({
      name: `${PREFIX}subscriber_stall_disconnects_total`,
      help: 'Result subscribers (SubscribeResults, /ws) disconnected because their connection took nothing: for the stall timeout, or while stalled when the budget was full.',
      labelNames: ['reason'] as const,
      registers,
      collect() {
        this.reset();
        const stats = hub.stats();
        this.inc({ reason: 'timeout' }, stats.stallDisconnects - stats.budgetDisconnects);
        this.inc({ reason: 'budget' }, stats.budgetDisconnects);
      },
    });
    new Counter({
      name: `${PREFIX}websocket_keepalive_terminated_total`,
      help: 'WebSocket clients (/ws, /ws/video, /ws/replay) terminated because they answered no ping within FW_KEEPALIVE_MS.',
      registers,
      collect() {
        this.reset();
        this.inc(keepalive.stats().terminated);
      },
    });
    new Gauge({
      name: `${PREFIX}websocket_clients`,
      help: 'Connected WebSocket clients on /ws.',
      registers,
      collect() {
        this.set(websocket.stats().clients);
      },
    });
    new Counter({
      name: `${PREFIX}websocket_results_sent_total`,
      help: 'Results sent to WebSocket clients.',
      registers,
      collect() {
        this.reset();
        this.inc(websocket.stats().sentTotal);
      },
    });
    new Counter({
      name: `${PREFIX}websocket_rejected_total`,
      help: 'WebSocket upgrades refused (bad query, wrong path, too many clients, shutting down).',
      registers,
      collect() {
        this.reset();
        this.inc(websocket.stats().rejectedTotal);
      },
    });
    new Gauge({
      name: `${PREFIX}commands`,
      help: "The command router's counters, by counter name (sent, acknowledged by status, timeouts, ...).",
      labelNames: ['counter'] as const,
      registers,
      collect() {
        this.reset();
        for (const [counter, value] of Object.entries(sources.commandCounters())) this.set({ counter }, value);
      },
    });
    this.commandAnswers = new Counter({
      name: `${PREFIX}http_command_answers_total`,
      help: 'POST /api/commands answers, by acknowledgement status.',
      labelNames: ['status'] as const,
      registers,
    });
    new Gauge({
      name: `${PREFIX}archive`,
      help: "The results recorder's counters (recorded, dropped, directoryCapDrops, errors, openArchives, pending, pendingBytes, directories, segmentsDeleted, bytesDeleted).",
      labelNames: ['counter'] as const,
      registers,
      collect() {
        this.reset();
        if (recorder === null) return;
        for (const [counter, value] of numericFields(recorder.stats())) this.set({ counter }, value);
      },
    });
    new Gauge({
      name: `${PREFIX}latency_seconds`,
      help: 'End-to-end latency per worker (gateway receive time - capture time) over its recent results.',
      labelNames: ['worker', 'stream', 'quantile'] as const,
      registers,
      collect() {
        this.reset();
        for (const w of hub.workers()) {
          if (w.latency.samples === 0) continue;
          this.set({ worker: w.workerId, stream: w.streamId, quantile: '0.5' }, w.latency.p50Us / 1e6);
          this.set({ worker: w.workerId, stream: w.streamId, quantile: '0.99' }, w.latency.p99Us / 1e6);
        }
      },
    });
    new Gauge({
      name: `${PREFIX}worker_results_per_second`,
      help: 'Results per second per worker over a sliding window.',
      labelNames: ['worker', 'stream'] as const,
      registers,
      collect() {
        this.reset();
        for (const w of hub.workers()) this.set({ worker: w.workerId, stream: w.streamId }, w.resultsPerSecond);
      },
    });
  }

  countCommandAnswer(status: string): void {
    this.commandAnswers.inc({ status });
  }
}
