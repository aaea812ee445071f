// The gateway's metrics from plain statistics: what a scrape reads at that moment, and what is
// counted as it happens.
import { gatewayMetrics, GatewayMetricsSources, HubMetricsStats, numericCounters } from './gateway-metrics';

function sources(overrides: Partial<GatewayMetricsSources> = {}): GatewayMetricsSources {
  const hub: HubMetricsStats = { rejected: 2, subscribers: 3, subscriberDrops: 4, queuedBytes: 500, transportBytes: 60, stallDisconnects: 7, budgetDisconnects: 1 };
  return {
    hubStats: () => hub,
    workers: () => [{ workerId: 'w1', streamId: 'cam-1', resultsPerSecond: 25, latency: { samples: 10, p50Us: 20_000, p99Us: 80_000 } }],
    recorderStats: () => ({ recorded: 11, dropped: 0, note: 'not a number' }),
    websocketStats: () => ({ clients: 1, sentTotal: 12, rejectedTotal: 13 }),
    keepaliveStats: () => ({ terminated: 14 }),
    commandStats: () => ({ sent: 5, acks: { success: 4, timeout: 1 } }),
    ...overrides,
  };
}

describe('gatewayMetrics', () => {
  it('reads the hub, workers, recorder, WebSocket, keepalive and router statistics at scrape time', async () => {
    let subscribers = 3;
    const base = sources();
    const metrics = gatewayMetrics({ ...base, hubStats: () => ({ ...base.hubStats(), subscribers }) });
    let text = await metrics.registry.metrics();
    expect(text).toContain('framewire_gateway_results_rejected_total 2');
    expect(text).toContain('framewire_gateway_result_subscribers 3');
    expect(text).toContain('framewire_gateway_subscriber_stall_disconnects_total{reason="timeout"} 6');
    expect(text).toContain('framewire_gateway_subscriber_stall_disconnects_total{reason="budget"} 1');
    expect(text).toContain('framewire_gateway_latency_seconds{worker="w1",stream="cam-1",quantile="0.99"} 0.08');
    expect(text).toContain('framewire_gateway_worker_results_per_second{worker="w1",stream="cam-1"} 25');
    expect(text).toContain('framewire_gateway_archive{counter="recorded"} 11');
    expect(text).not.toContain('counter="note"');
    expect(text).toContain('framewire_gateway_websocket_keepalive_terminated_total 14');
    expect(text).toContain('framewire_gateway_commands{counter="acks_timeout"} 1');
    subscribers = 9;
    text = await metrics.registry.metrics();
    expect(text).toContain('framewire_gateway_result_subscribers 9');
  });

  it('leaves the archive gauge empty when recording is off', async () => {
    const text = await gatewayMetrics(sources({ recorderStats: () => null })).registry.metrics();
    expect(text).not.toMatch(/framewire_gateway_archive\{/);
  });

  it('counts results by kind and command answers by status as they happen', async () => {
    const metrics = gatewayMetrics(sources());
    metrics.countResult('tracks');
    metrics.countResult('tracks');
    metrics.countCommandAnswer('timeout');
    const text = await metrics.registry.metrics();
    expect(text).toContain('framewire_gateway_results_received_total{kind="tracks"} 2');
    expect(text).toContain('framewire_gateway_http_command_answers_total{status="timeout"} 1');
  });

  it('flattens nested statistics into counter names', () => {
    expect(numericCounters({ a: 1, b: { c: 2, d: { e: 3 } }, f: 'x', g: [4] })).toEqual({ a: 1, b_c: 2, b_d_e: 3 });
  });
});
