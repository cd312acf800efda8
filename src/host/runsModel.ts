// Runs on disk as the results panel shows them: summaries for the list, one run's record, metrics
// (step and eval rows, each checked; a long run's as a bounded view, every row only on demand) and
// evaluation (eval.json, checked), and the only way from a run id the panel sent to a folder
// (runDirOf: inside the runs folder, or refused). No vscode import: unit-tested under vitest.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listRuns, METRICS_FILE, readMetricsView, readMetricsViewAsync, RUN_FILE, RunDir, type MetricsView, type MetricsViewOptions, type RunRecord } from '../core/runs';
import { decodeEvalReport, type EvalReport } from '../protocol/evaluation';
import { EVAL_FILE } from '../protocol/evaluation';
import { plotted, type MetricRow } from '../protocol/metrics';
import { runIdProblem, type MetricsCoverage, type RunDetail, type RunSummary } from '../protocol/panel';
import { resolveRunConfigOf, type SpecCache } from './resolvedRunConfig';
import { readRunCases } from './runCases';

export { EVAL_FILE };

/** Where a problem met while reading a run goes (the output channel, in the extension). */
export type ProblemLog = (problem: string) => void;

/** A run's row of the Runs list; `specs` caches the models' config.json across a listing (the resolved LoRA targets). */
export function summarize(rec: RunRecord, specs: SpecCache = new Map()): RunSummary {
  const s = rec.summary ?? {};
  const { config } = resolveRunConfigOf(rec.config, specs);
  return {
    id: rec.id,
    dir: rec.dir,
    name: rec.name,
    status: rec.status,
    createdAt: rec.createdAt,
    durationMs: rec.durationMs,
    bestValLoss: typeof s.bestValLoss === 'number' ? s.bestValLoss : null,
    finalStep: typeof s.finalStep === 'number' ? s.finalStep : undefined,
    model: rec.model.path,
    dataset: rec.dataset.path,
    ...(rec.source && { source: rec.source }),
    ...(config && { config }),
  };
}

/** Every run under the root, newest first; orphaned `running` runs show as `interrupted`. */
export function runSummaries(root: string): { runs: RunSummary[]; problems: { dir: string; reason: string }[] } {
  if (!fs.existsSync(root)) return { runs: [], problems: [] };
  const listing = listRuns(root);
  const specs: SpecCache = new Map();
  return { runs: listing.runs.map((r) => summarize(r, specs)), problems: listing.problems };
}

/**
 * The folder of run `id` under `root`, or why there is none: the id must be one folder name
 * (no `..`, no separator, not absolute) naming a folder with a run.json directly under the root.
 */
export function runDirOf(root: string, id: unknown): { dir: string } | { error: string } {
  const problem = runIdProblem(id);
  if (problem !== undefined || typeof id !== 'string') return { error: problem ?? 'not a run id' };
  const base = path.resolve(root);
  const dir = path.resolve(base, id);
  if (path.dirname(dir) !== base) return { error: `"${id}" is not a folder directly under ${base}` };
  if (!fs.existsSync(path.join(dir, RUN_FILE))) return { error: `no run "${id}" under ${base}` };
  return { dir };
}

/**
 * The panel's rows of a metrics.jsonl, every one ("Load all"): step and eval rows, each checked;
 * malformed lines logged with their number. Read in chunks (metricsView `all`); still seconds and
 * hundreds of MB at 1M steps (npm run bench -- --metrics: about 0.7× readMetricRows' CPU and 0.75× its memory).
 */
export function metricRows(dir: string, log: ProblemLog = () => {}): MetricRow[] {
  return metricsForChart(dir, log, { all: true }).metrics;
}

/**
 * The panel's rows of a metrics.jsonl for the chart, in bounded time and memory whatever the run's
 * length (core/runs/metricsView): every eval row, the step rows thinned past `maxStepRows`
 * (the first, each bucket's lowest and highest loss, the last rows whole), and how many that is.
 */
export function metricsForChart(dir: string, log: ProblemLog = () => {}, opts?: MetricsViewOptions): ChartMetrics {
  const file = path.join(dir, METRICS_FILE);
  return chartMetrics(file, readMetricsView(file, opts), log);
}

/** metricsForChart, letting the event loop run between chunks (the extension host, for "Load all"). */
export async function metricsForChartAsync(dir: string, log: ProblemLog = () => {}, opts?: MetricsViewOptions): Promise<ChartMetrics> {
  const file = path.join(dir, METRICS_FILE);
  return chartMetrics(file, await readMetricsViewAsync(file, opts), log);
}

export interface ChartMetrics {
  metrics: MetricRow[];
  coverage: MetricsCoverage;
}

function chartMetrics(file: string, view: MetricsView, log: ProblemLog): ChartMetrics {
  for (const s of view.skipped) log(`${file}:${s.line}: row skipped: ${s.reason}`);
  if (view.moreSkipped) log(`${file}: ${view.moreSkipped} more rows skipped`);
  const coverage: MetricsCoverage = { stepRows: view.stepRows, shownStepRows: view.shownStepRows, downsampled: view.downsampled, bytes: view.bytes };
  if (view.tailFromStep !== undefined) coverage.tailFromStep = view.tailFromStep;
  const metrics: MetricRow[] = [];
  for (const r of view.rows) if (r.type !== 'preflight') metrics.push(plotted(r));
  return { metrics, coverage };
}

/** eval.json of a run folder, checked: the report, why it cannot be used, or neither when there is none. */
export function readEvaluation(dir: string): { evaluation?: EvalReport; evaluationError?: string } {
  const file = path.join(dir, EVAL_FILE);
  if (!fs.existsSync(file)) return {};
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return { evaluationError: `${file} is not valid JSON` };
  }
  const d = decodeEvalReport(json);
  return d.ok ? { evaluation: d.value } : { evaluationError: `${file}: ${d.error}` };
}

export interface DetailOptions {
  /** Every row of metrics.jsonl (the panel's "Load all"), not the bounded view for the chart. */
  full?: boolean;
  /** Bounds of the view (tests and the benchmark). */
  view?: MetricsViewOptions;
}

/**
 * One run's record, metric rows and evaluation; the best validation loss is taken from the rows
 * for live runs (every eval row is there, also in the bounded view).
 */
export function runDetail(dir: string, log: ProblemLog = () => {}, opts: DetailOptions = {}): RunDetail {
  const record = RunDir.open(dir).record();
  return detailOf(dir, record, metricsForChart(dir, log, opts.full ? { all: true } : opts.view), opts.full === true, log);
}

/** runDetail, letting the event loop run while metrics.jsonl is read (the host answering LoadRuns). */
export async function runDetailAsync(dir: string, log: ProblemLog = () => {}, opts: DetailOptions = {}): Promise<RunDetail> {
  const record = RunDir.open(dir).record();
  return detailOf(dir, record, await metricsForChartAsync(dir, log, opts.full ? { all: true } : opts.view), opts.full === true, log);
}

function detailOf(dir: string, record: RunRecord, { metrics, coverage }: ChartMetrics, full: boolean, log: ProblemLog): RunDetail {
  const summary = summarize(record);
  if (summary.bestValLoss === null) {
    let best = Infinity;
    for (const m of metrics) if (m.type === 'eval' && m.valLoss < best) best = m.valLoss;
    if (best !== Infinity) summary.bestValLoss = best;
  }
  const evaluation = readEvaluation(dir);
  if (evaluation.evaluationError) log(evaluation.evaluationError);
  // The case reports of evals/ (issue 16); one that cannot be used is shown with why, and logged.
  const cases = readRunCases(dir);
  for (const c of cases) if (c.error) log(`${dir}: ${c.error}`);
  // Every row (Load all): no coverage, as for a detail from before the bounded view.
  return { summary, record, metrics, ...(!full && { metricsCoverage: coverage }), ...evaluation, ...(cases.length > 0 && { cases }) };
}
