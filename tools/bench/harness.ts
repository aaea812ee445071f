// Benchmark harness: measures cases side by side in one process, reports medians of several
// runs, and writes a markdown section that tools/bench/run.mjs assembles into docs/benchmarks.md.
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

/** Where each benchmark script leaves its section; run.mjs collects them. */
export const BENCH_RESULTS_DIR = resolve(process.env.FW_BENCH_RESULTS_DIR ?? 'bench-results');

export const DEFAULT_RUNS = Number(process.env.FW_BENCH_RUNS ?? 5);
export const DEFAULT_MIN_RUN_MS = Number(process.env.FW_BENCH_MIN_MS ?? 400);

export interface BenchCase {
  name: string;
  /** Performs `opsPerCall` operations (frames, messages, ...) per call. */
  fn: () => unknown | Promise<unknown>;
  opsPerCall?: number;
  /** Payload bytes per operation, to report MB/s. */
  bytesPerOp?: number;
}

export interface BenchResult {
  name: string;
  /** Median operations per second over the runs. */
  opsPerSec: number;
  /** Median MB/s (10^6 bytes), when bytesPerOp was given. */
  mbPerSec?: number;
  /** Operations per second of each run. */
  runs: number[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function timeOneRun(c: BenchCase, minMs: number): Promise<number> {
  const opsPerCall = c.opsPerCall ?? 1;
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    const r = c.fn();
    if (r instanceof Promise) await r;
    ops += opsPerCall;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return (ops * 1000) / elapsed;
}

/** Runs every case `runs` times, interleaved (case A run 1, case B run 1, ...), so that machine
 *  noise hits all cases alike; returns medians. One warm-up run per case is discarded. */
export async function runCases(
  cases: readonly BenchCase[],
  options: { runs?: number; minRunMs?: number } = {},
): Promise<BenchResult[]> {
  const runs = options.runs ?? DEFAULT_RUNS;
  const minMs = options.minRunMs ?? DEFAULT_MIN_RUN_MS;
  const samples = cases.map(() => [] as number[]);
  for (const c of cases) await timeOneRun(c, Math.min(minMs, 100));
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < cases.length; i++) samples[i].push(await timeOneRun(cases[i], minMs));
  }
  return cases.map((c, i) => {
    const opsPerSec = median(samples[i]);
    return {
      name: c.name,
      opsPerSec,
      mbPerSec: c.bytesPerOp ? (opsPerSec * c.bytesPerOp) / 1e6 : undefined,
      runs: samples[i],
    };
  });
}

/** Nearest-rank percentile `q` (0..1) of ascending `sorted` values; NaN when there are none. */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

export function formatNumber(n: number): string {
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** A markdown table of results, with a ratio column against the anchor named by `anchorName`. */
export function resultsTable(results: readonly BenchResult[], anchorName?: string): string {
  const anchor = anchorName ? results.find((r) => r.name === anchorName) : undefined;
  const lines = [
    `| case | ops/s (median) | MB/s | ${anchor ? `× ${anchor.name} |` : ''} runs |`,
    `|---|---:|---:|${anchor ? '---:|' : ''}---|`,
  ];
  for (const r of results) {
    const ratioCell = anchor ? ` ${(r.opsPerSec / anchor.opsPerSec).toFixed(2)} |` : '';
    lines.push(
      `| ${r.name} | ${formatNumber(r.opsPerSec)} | ${r.mbPerSec === undefined ? '' : formatNumber(r.mbPerSec)} |${ratioCell} ${r.runs.length} |`,
    );
  }
  return lines.join('\n');
}

/** Peak resident set size of this process so far, in MiB. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Writes this benchmark's markdown section (title, body, peak RSS) for run.mjs to collect, and
 *  prints it. `id` orders sections and names the file. */
export function writeSection(id: string, title: string, body: string): void {
  const text = `## ${title}\n\n${body}\n\nPeak RSS of this benchmark process: ${peakRssMiB().toFixed(0)} MiB.\n`;
  mkdirSync(BENCH_RESULTS_DIR, { recursive: true });
  writeFileSync(join(BENCH_RESULTS_DIR, `${id}.md`), text);
  process.stdout.write(`\n${text}\n`);
}

/** A server a benchmark runs in a child process of its own: `node <script> ...args`, which prints
 *  `listening <port>` once it serves. Resolves with the child and the port; the caller kills it. */
export async function spawnBenchServer(script: string, args: readonly string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [script, ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const m = /listening (\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} server exited with ${code}: ${text}`)));
  });
  return { child, port };
}
