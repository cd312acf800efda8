// Messages between the extension host and the results panel (webview). Discriminated unions on
// `type`; JSON-serialisable (webview postMessage). Types only: the webview bundle imports this.
import type { ModelSpec } from '../core/hf/config';
import type { RunConfig, RunConfigInput } from '../core/runConfig';
import type { RunRecord, RunStatus } from '../core/runs/record';
import type { SessionEvent } from '../core/session';
import type { MetricRow } from './metrics';

export type { MetricRow } from './metrics';

/** What the configuration form needs to prefill and to count parameters live (countParameters runs in the webview). */
export interface FormState {
  dataset: string;
  /** How the dataset was detected (format, rows), or the problem found. */
  datasetSummary: string;
  model: string;
  modelSpec: ModelSpec;
  /** Target module names the architecture offers (plus 'all-linear'). */
  moduleChoices: string[];
  defaultTargets: string[];
  /** Values prefilled from the settings. */
  initial: RunConfigInput & { model: string; data: string };
  /** An error to show at the top of the form (e.g. the last start failed validation). */
  error?: string;
}

export interface RunSummary {
  id: string;
  dir: string;
  name: string;
  status: RunStatus;
  createdAt: string;
  durationMs?: number;
  bestValLoss?: number | null;
  finalStep?: number;
  model: string;
  dataset: string;
}

/** The evaluation written to eval.json (src/core/evaluate.ts); the panel renders it defensively. */
export type EvaluationReport = Record<string, unknown>;

export interface RunDetail {
  summary: RunSummary;
  record: RunRecord;
  config: RunConfig;
  metrics: MetricRow[];
  evaluation?: EvaluationReport;
}

/** Host → panel. */
export type ToPanel =
  | { type: 'showForm'; form: FormState }
  | { type: 'runs'; runs: RunSummary[]; activeRunId?: string }
  | { type: 'runDetail'; detail: RunDetail }
  /** A live event of the run in progress (step, eval, checkpoint, preflight, finished, evaluation, ...). */
  | { type: 'runEvent'; runId: string; event: SessionEvent }
  | { type: 'focusRun'; runId: string }
  | { type: 'error'; message: string };

/** Panel → host. */
export type FromPanel =
  | { type: 'ready' }
  | { type: 'startTraining'; config: RunConfigInput }
  | { type: 'cancelTraining' }
  | { type: 'pickModel' }
  | { type: 'pickDataset' }
  | { type: 'newRun' }
  | { type: 'loadRuns'; runIds: string[] }
  | { type: 'diffConfigs'; runIds: [string, string] }
  | { type: 'openRunFolder'; runId: string }
  | { type: 'evaluateRun'; runId: string }
  | { type: 'mergeRun'; runId: string };

/** What the panel persists across reloads (webview state + serializer). */
export interface PanelPersistedState {
  selectedRunIds: string[];
  xAxis: 'step' | 'tokens' | 'epoch';
  logScale: boolean;
  smoothing: number;
  tab?: 'configure' | 'curves' | 'evaluation' | 'runs';
}
