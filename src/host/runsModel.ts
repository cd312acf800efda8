// Runs on disk as the results panel shows them: summaries for the list, and one run's record,
// metrics (step and eval rows) and evaluation. No vscode import: unit-tested under vitest.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunConfig } from '../core/runConfig';
import { listRuns, RunDir, type RunRecord } from '../core/runs';
import type { EvaluationReport, MetricRow, RunDetail, RunSummary } from '../protocol/panel';

export const EVAL_FILE = 'eval.json';

export function summarize(rec: RunRecord): RunSummary {
  const s = rec.summary ?? {};
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
  };
}

/** Every run under the root, newest first; orphaned `running` runs show as `interrupted`. */
export function runSummaries(root: string): { runs: RunSummary[]; problems: { dir: string; reason: string }[] } {
  if (!fs.existsSync(root)) return { runs: [], problems: [] };
  const listing = listRuns(root);
  return { runs: listing.runs.map(summarize), problems: listing.problems };
}

/** Keeps the metric rows the panel plots; the best validation loss is taken from them for live runs. */
export function metricRows(rows: Record<string, unknown>[]): MetricRow[] {
  return rows.filter((r) => r.type === 'step' || r.type === 'eval') as unknown as MetricRow[];
}

export function runDetail(dir: string): RunDetail {
  const run = RunDir.open(dir);
  const record = run.record();
  const metrics = metricRows(run.metrics());
  const summary = summarize(record);
  if (summary.bestValLoss === null) {
    const evals = metrics.filter((m): m is Extract<MetricRow, { type: 'eval' }> => m.type === 'eval');
    if (evals.length) summary.bestValLoss = Math.min(...evals.map((e) => e.valLoss));
  }
  const evalPath = path.join(dir, EVAL_FILE);
  let evaluation: EvaluationReport | undefined;
  if (fs.existsSync(evalPath)) {
    try {
      evaluation = JSON.parse(fs.readFileSync(evalPath, 'utf8')) as EvaluationReport;
    } catch {
      evaluation = { error: `${evalPath} is not valid JSON` };
    }
  }
  return { summary, record, config: record.config as RunConfig, metrics, evaluation };
}
