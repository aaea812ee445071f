// Prometheus metrics of the gateway, served at GET /metrics from a Registry of its own, from plain
// statistics: most are read from the hub, recorder, router and WebSocket statistics at scrape time;
// results by kind and HTTP command answers are counted as they happen (countResult, countCommandAnswer).
import { Counter, Gauge, Registry } from 'prom-client';

const PREFIX = 'framewire_gateway_';

/** The result hub's statistics the metrics read (ResultHub.stats() has them). */
export interface HubMetricsStats {
  rejected: number;
  subscribers: number;
  subscriberDrops: number;
  queuedBytes: number;
  transportBytes: number;
  stallDisconnects: number;
  budgetDisconnects: number;
}

/** One worker's activity as the metrics read it (ResultHub.workers() has them). */
export interface WorkerMetricsStats {
  workerId: string;
  streamId: string;
  resultsPerSecond: number;
  latency: { samples: number; p50Us: number; p99Us: number };
}

/** Where the gateway's metrics come from, each read at scrape time. */
export interface GatewayMetricsSources {
  hubStats: () => HubMetricsStats;
  workers: () => readonly WorkerMetricsStats[];
  /** The results recorder's counters (its numeric fields), or null when recording is off. */
  recorderStats: () => object | null;
  /** The /ws endpoint's counters. */
  websocketStats: () => { clients: number; sentTotal: number; rejectedTotal: number };
  keepaliveStats: () => { terminated: number };
  /** The router's statistics: their numeric fields (nested ones as `outer_inner`) are exported as
   *  framewire_gateway_commands{counter=...}. */
  commandStats: () => object;
}

/** Numeric fields of an object, for exporting a stats record as labelled gauges. */
function numericFields(record: object): [string, number][] {
  return Object.entries(record).filter((e): e is [string, number] => typeof e[1] === 'number');
}

/** Flattens a stats record into counter name → value (nested objects as `outer_inner`). */
export function numericCounters(stats: object, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(stats)) {
    if (typeof value === 'number') out[`${prefix}${key}`] = value;
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) Object.assign(out, numericCounters(value, `${prefix}${key}_`));
  }
  return out;
}

/** The gateway's registry and the two counters counted as things happen. */
export interface GatewayMetrics {
  registry: Registry;
  /** A result accepted by the hub, by its kind's name. */
  countResult(kindName: string): void;
  /** An answer of POST /api/commands, by its acknowledgement status's name. */
  countCommandAnswer(status: string): void;
}

/** The gateway's metrics over `sources`, in a Registry of their own. */
export function gatewayMetrics(sources: GatewayMetricsSources): GatewayMetrics {
  const registry = new Registry();
  const registers = [registry];
  const resultsByKind = new Counter({
    name: `${PREFIX}results_received_total`,
    help: 'Results accepted by the hub, by kind.',
    labelNames: ['kind'] as const,
    registers,
  });
  new Counter({
    name: `${PREFIX}results_rejected_total`,
    help: 'Results refused by validation (malformed, oversized, no payload).',
    registers,
    collect() {
      this.reset();
      this.inc(sources.hubStats().rejected);
    },
  });
  new Gauge({
    name: `${PREFIX}result_subscribers`,
    help: 'Live result subscriptions (gRPC SubscribeResults and WebSocket clients).',
    registers,
    collect() {
      this.set(sources.hubStats().subscribers);
    },
  });
  new Counter({
    name: `${PREFIX}subscriber_drops_total`,
    help: 'Results dropped from subscriber queues because the subscriber did not keep up.',
    registers,
    collect() {
      this.reset();
      this.inc(sources.hubStats().subscriberDrops);
    },
  });
  new Gauge({
    name: `${PREFIX}result_queued_bytes`,
    help: 'Bytes of the distinct results waiting in subscriber queues (bounded by FW_RESULTS_QUEUE_BYTES).',
    registers,
    collect() {
      this.set(sources.hubStats().queuedBytes);
    },
  });
  new Gauge({
    name: `${PREFIX}result_transport_bytes`,
    help: "Bytes of results in subscribers' transports, taken from their queues and not yet handed on (counted in FW_RESULTS_QUEUE_BYTES).",
    registers,
    collect() {
      this.set(sources.hubStats().transportBytes);
    },
  });
  new Counter({
    name: `${PREFIX}subscriber_stall_disconnects_total`,
    help: 'Result subscribers (SubscribeResults, /ws) disconnected because their connection took nothing: for the stall timeout, or while stalled when the budget was full.',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      this.reset();
      const stats = sources.hubStats();
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
      this.inc(sources.keepaliveStats().terminated);
    },
  });
  new Gauge({
    name: `${PREFIX}websocket_clients`,
    help: 'Connected WebSocket clients on /ws.',
    registers,
    collect() {
      this.set(sources.websocketStats().clients);
    },
  });
  new Counter({
    name: `${PREFIX}websocket_results_sent_total`,
    help: 'Results sent to WebSocket clients.',
    registers,
    collect() {
      this.reset();
      this.inc(sources.websocketStats().sentTotal);
    },
  });
  new Counter({
    name: `${PREFIX}websocket_rejected_total`,
    help: 'WebSocket upgrades refused (bad query, wrong path, too many clients, shutting down).',
    registers,
    collect() {
      this.reset();
      this.inc(sources.websocketStats().rejectedTotal);
    },
  });
  new Gauge({
    name: `${PREFIX}commands`,
    help: "The command router's counters, by counter name (sent, acknowledged by status, timeouts, ...).",
    labelNames: ['counter'] as const,
    registers,
    collect() {
      this.reset();
      for (const [counter, value] of Object.entries(numericCounters(sources.commandStats()))) this.set({ counter }, value);
    },
  });
  const commandAnswers = new Counter({
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
      const stats = sources.recorderStats();
      if (stats === null) return;
      for (const [counter, value] of numericFields(stats)) this.set({ counter }, value);
    },
  });
  new Gauge({
    name: `${PREFIX}latency_seconds`,
    help: 'End-to-end latency per worker (gateway receive time - capture time) over its recent results.',
    labelNames: ['worker', 'stream', 'quantile'] as const,
    registers,
    collect() {
      this.reset();
      for (const w of sources.workers()) {
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
      for (const w of sources.workers()) this.set({ worker: w.workerId, stream: w.streamId }, w.resultsPerSecond);
    },
  });
  return {
    registry,
    countResult: (kindName) => resultsByKind.inc({ kind: kindName }),
    countCommandAnswer: (status) => commandAnswers.inc({ status }),
  };
}
