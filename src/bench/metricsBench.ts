// `npm run bench -- --metrics [--metrics-steps N] [--eval-every K] [--metrics-cases bounded,all,old]`:
// how long the results panel takes to open a long run's detail (runsModel.runDetail, as the host
// answers LoadRuns): the bounded metrics view (core/runs/metricsView), every row read in chunks
// ("Load all"), and every row as the detail was read before (readMetricRows). Writes a run folder with an N-step metrics.jsonl (default 1,000,000, an eval
// row every K = 1000 steps, one loss spike) in a temp folder, then opens it in a fresh child
// process per case, so that each case's peak RSS is its own: wall and CPU ms of the first open (and
// of two more for the bounded view; every row once, it takes seconds), peak RSS and heap growth
// over the child's baseline, and the size of the detail as posted. CPU time is the figure to trust
// on a loaded machine.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { METRICS_FILE, readMetricRows, RunDir } from '../core/runs';
import { metricLine } from '../core/runs/metrics';
import { runDetail } from '../host/runsModel';
import { plotted } from '../protocol/metrics';
import { formatBytes, formatInt } from '../protocol/progress';

export type MetricsCase = 'bounded' | 'all' | 'old';
export const METRICS_CASES: readonly MetricsCase[] = ['bounded', 'all', 'old'];
const LABELS: Record<MetricsCase, string> = {
  bounded: 'bounded view (runDetail: what the panel opens with)',
  all: 'every row, chunked (runDetail { full }: "Load all")',
  old: 'every row, readMetricRows (the detail before the bounded view)',
};

interface CaseResult {
  ms: number[];
  cpuMs: number[];
  peakRssDeltaBytes: number;
  heapDeltaBytes: number;
  rows: number;
  stepRows: number;
  postedBytes: number;
  maxLoss: number;
}

/** Writes a run whose metrics.jsonl has `steps` step rows (eval every `evalEvery`), one spike at 61.8% of the way. */
function writeRun(root: string, steps: number, evalEvery: number): { dir: string; bytes: number; spikeStep: number } {
  const run = RunDir.create(root, { name: 'bench-metrics', config: {}, model: { path: '/m', fingerprint: 'f' }, dataset: { path: '/d.jsonl', sha256: '0'.repeat(64) } });
  const file = path.join(run.dir, METRICS_FILE);
  const fd = fs.openSync(file, 'w');
  const spikeStep = Math.max(1, Math.round(steps * 0.618));
  const time = new Date().toISOString();
  const t0 = Date.now();
  let batch: string[] = [];
  let best = Infinity;
  for (let s = 1; s <= steps; s++) {
    // A decaying curve with deterministic noise, like a real run's.
    const noise = (((s * 2654435761) >>> 0) % 1000) / 1000 - 0.5;
    const loss = s === spikeStep ? 25 : 1.2 + 2 * Math.exp(-s / (steps / 10)) + 0.15 * noise;
    batch.push(metricLine({ type: 'step', step: s, totalSteps: steps, epoch: s / 5000, loss, lr: 2e-4, gradNorm: 0.8 + 0.1 * noise, tokens: 2048 + (s % 97), tokensPerSec: 6100 + 100 * noise, stepMs: 330 + noise, elapsedMs: s * 330, time }, file));
    if (s % evalEvery === 0) {
      const valLoss = 1.3 + 2 * Math.exp(-s / (steps / 10));
      batch.push(metricLine({ type: 'eval', step: s, valLoss, valPerplexity: Math.exp(valLoss), valTokens: 20000, best: valLoss < best, time }, file));
      best = Math.min(best, valLoss);
    }
    if (batch.length >= 20000) {
      fs.writeSync(fd, batch.join(''));
      batch = [];
    }
  }
  fs.writeSync(fd, batch.join(''));
  fs.closeSync(fd);
  process.stderr.write(`wrote ${formatInt(steps)} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  return { dir: run.dir, bytes: fs.statSync(file).size, spikeStep };
}

/** The child: opens the run's detail `repeat` times as the host does, prints one JSON line. */
export function metricsCase(name: MetricsCase, dir: string, repeat: number): void {
  const rss0 = process.resourceUsage().maxRSS * 1024;
  const heap0 = process.memoryUsage().heapUsed;
  const ms: number[] = [];
  const cpuMs: number[] = [];
  let detail: ReturnType<typeof runDetail> | undefined;
  for (let i = 0; i < repeat; i++) {
    detail = undefined;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    detail = name === 'old' ? oldDetail(dir) : runDetail(dir, () => {}, { full: name === 'all' });
    ms.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuMs.push((c.user + c.system) / 1000);
  }
  const heapDelta = process.memoryUsage().heapUsed - heap0;
  const rssDelta = process.resourceUsage().maxRSS * 1024 - rss0;
  const d = detail!;
  let maxLoss = -Infinity;
  let stepRows = 0;
  for (const m of d.metrics) {
    if (m.type !== 'step') continue;
    stepRows++;
    if (m.loss > maxLoss) maxLoss = m.loss;
  }
  const result: CaseResult = { ms, cpuMs, peakRssDeltaBytes: rssDelta, heapDeltaBytes: heapDelta, rows: d.metrics.length, stepRows, postedBytes: Buffer.byteLength(JSON.stringify(d)), maxLoss };
  console.log(JSON.stringify(result));
}

/** runDetail as it was before the bounded view: readMetricRows (the whole file as one string, split), every row posted. */
function oldDetail(dir: string): ReturnType<typeof runDetail> {
  const d = runDetail(dir, () => {}, { view: { maxStepRows: 16 } });
  const read = readMetricRows(path.join(dir, METRICS_FILE));
  const { metricsCoverage: _bounded, ...rest } = d;
  return { ...rest, metrics: read.rows.flatMap((r) => (r.type === 'preflight' ? [] : [plotted(r)])) };
}

export function metricsBench(steps: number, evalEvery: number, cases: readonly MetricsCase[] = METRICS_CASES): void {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-bench-metrics-'));
  try {
    const { dir, bytes, spikeStep } = writeRun(root, steps, evalEvery);
    console.log(`\nmetrics.jsonl: ${formatInt(steps)} steps + an eval row every ${formatInt(evalEvery)}, ${formatBytes(bytes)}; Node ${process.versions.node}, ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}`);
    console.log(`Each case in a fresh process: the first open (cold code), then the next ones; memory over the process baseline; load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs.\n`);
    console.log('| case | first open: wall ms (CPU ms) | then: wall ms (CPU ms) | peak RSS Δ | heap Δ (kept) | step rows shown | detail as posted | spike kept |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const c of cases) {
      const label = LABELS[c];
      const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--metrics-case', c, '--metrics-dir', dir, '--metrics-repeat', c === 'bounded' ? '3' : '1'], { encoding: 'utf8', maxBuffer: 1 << 20 });
      const last = child.stdout.trim().split('\n').at(-1) ?? '';
      if (child.status !== 0 || !last.startsWith('{')) {
        console.log(`| ${label} | failed (exit ${child.status ?? child.signal}): ${child.stderr.trim().split('\n').at(-1) ?? ''} | | | | | | |`);
        continue;
      }
      const r = JSON.parse(last) as CaseResult;
      console.log(
        `| ${label} | ${r.ms[0].toFixed(0)} (${r.cpuMs[0].toFixed(0)}) | ${r.ms.slice(1).map((x, i) => `${x.toFixed(0)} (${r.cpuMs[i + 1].toFixed(0)})`).join(', ') || '—'} | ${formatBytes(r.peakRssDeltaBytes)} | ${formatBytes(r.heapDeltaBytes)} | ` +
          `${formatInt(r.stepRows)} of ${formatInt(steps)} | ${formatBytes(r.postedBytes)} | ${r.maxLoss === 25 ? `yes (step ${formatInt(spikeStep)})` : 'no'} |`,
      );
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
