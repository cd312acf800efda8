// Messages between the extension host and the results panel (webview): commands the panel sends
// (fire and forget), notifications the host sends, and requests with typed replies over
// src/protocol/rpc.ts (LoadRuns, EvaluateRun). Discriminated unions on `type`, JSON-serialisable.
// The host decodes everything the panel sends (decodePanelCommand, the requests' parameter
// decoders); the panel decodes the replies. Pure: the webview bundle imports this.
import type { ModelSpec } from '../core/hf/config';
import { DecodeError, decoder, fail, Fields, isRecord, type Decoded, type Decoder } from './decode';
import { decodeCasesReport, type CasesReport } from './evalCases';
import { decodeEvalReport, type EvalReport } from './evaluation';
import type { LintDiagnostic, LintSummary } from './lint';
import type { MetricRow } from './metrics';
import { requestType, type RpcMessage } from './rpc';
import { decodeRunConfig, getField, RUN_FIELDS, fieldProblem, setField, type RunConfig, type RunConfigInput } from './runConfig';
import { decodeRunRecord, RUN_SOURCES, RUN_STATUSES, type RunRecord, type RunSource, type RunStatus } from './runRecord';
import type { SessionEvent } from './worker';

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

/**
 * What the panel may choose when it starts a run: the fields of the run-config table (LoRA,
 * training, data options, backend), never a path. The dataset and model are the ones the user
 * picked through the host; the workspace and runs folder come from the host's settings.
 */
export type RunParameters = Pick<RunConfigInput, 'lora' | 'training' | 'dataOptions' | 'backend' | 'threads' | 'memoryLimitBytes'>;

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
  /** run.json's `source`: absent for a run LoRA Lab trained; 'trl' for one trained by an exported bundle's train.py and brought back by `lora-lab import`. */
  source?: RunSource;
  /**
   * run.json's config resolved as training resolves it (defaults filled, the LoRA targets spelled
   * out where the model's config.json is readable; host/resolvedRunConfig.ts): what the run labels
   * (runLabels.ts) compare. Absent when it is not a valid config.
   */
  config?: RunConfig;
}

/**
 * How much of metrics.jsonl a RunDetail's `metrics` holds. A long run's detail is a bounded view
 * (src/core/runs/metricsView.ts): older step rows thinned to the lowest and highest loss per
 * bucket of steps, the last rows and every eval row whole; LoadRuns with `full` reads every row.
 */
export interface MetricsCoverage {
  /** Step rows in metrics.jsonl. */
  stepRows: number;
  /** Step rows in `metrics`. */
  shownStepRows: number;
  /** Whether step rows were thinned (false: every row of the file is there). */
  downsampled: boolean;
  /** When downsampled: the first step from which every row is there. */
  tailFromStep?: number;
  /** Size of metrics.jsonl read, in bytes. */
  bytes: number;
}

export interface RunDetail {
  summary: RunSummary;
  record: RunRecord;
  metrics: MetricRow[];
  /** How much of the file `metrics` holds; absent: all of it. */
  metricsCoverage?: MetricsCoverage;
  evaluation?: EvalReport;
  /** eval.json exists but could not be used: why (the Evaluation section shows it). */
  evaluationError?: string;
  /** The case reports in `<run>/evals/` (issue 16), by file name; absent or empty: none. */
  cases?: RunCaseReport[];
}

/** One `<run>/evals/<name>.json`: its report, or why it could not be used (the Evaluation section says which file and why). */
export interface RunCaseReport {
  /** The file name in `<run>/evals/` ("devil.json"). */
  name: string;
  report?: CasesReport;
  error?: string;
}

type RunEvent<T extends SessionEvent['type']> = Extract<SessionEvent, { type: T }>;

/** Host → panel, besides replies. */
export type HostNotification =
  | { type: 'showForm'; form: FormState }
  | { type: 'runs'; runs: RunSummary[]; activeRunId?: string }
  /**
   * The run in progress has its folder: the `run` event, with the run as on disk at that moment
   * (a resumed run's earlier rows; absent if it could not be read). Live events follow. Sent again,
   * `rejoined`, to a panel that (re)opens while the run goes on: it keeps its view and follows the run.
   */
  | { type: 'runStarted'; event: RunEvent<'run'>; detail?: RunDetail; rejoined?: boolean }
  /** A live event of the run in progress (config, step, eval, checkpoint, preflight, finished, evaluation, ...). */
  | { type: 'runEvent'; event: Exclude<SessionEvent, RunEvent<'run'>> }
  | { type: 'error'; message: string }
  /** A run's `<run>/evals/` changed on disk (a Test Explorer run, lora-lab test, an end-of-run evaluation): its case reports as now. */
  | { type: 'runCases'; runId: string; cases: RunCaseReport[] }
  /** The dataset lint of the form's dataset (with the form's model and max_seq_len), while it runs and when done. */
  | { type: 'datasetLint'; lint: DatasetLintState };

/**
 * What the Configure section shows of the dataset lint (src/core/lint). `checking` keeps the
 * previous result's counts, so Start stays disabled until a re-lint shows no errors.
 */
export interface DatasetLintState {
  /** The training file linted (the form's dataset). */
  dataset: string;
  /** `off`: loraLab.lint.enabled is false; `failed`: the lint process could not lint it (`note` says why). */
  status: 'checking' | 'done' | 'off' | 'failed';
  note?: string;
  /** The workspace folder: paths inside it are shown relative to it. */
  workspace?: string;
  /** Files: the dataset, then the validation file that was linted with it, if any. */
  summary?: LintSummary;
  /** The first errors, in file order (the Problems panel has them all). */
  errors?: Pick<LintDiagnostic, 'file' | 'line' | 'code' | 'message'>[];
}

/** A path as the panel shows it: relative to the workspace folder when inside it, with forward slashes. */
export function shownPath(file: string, workspace?: string): string {
  const norm = (p: string) => p.replace(/\\/g, '/');
  const f = norm(file);
  const w = workspace ? `${norm(workspace).replace(/\/+$/, '')}/` : undefined;
  return w && f.startsWith(w) ? f.slice(w.length) : f;
}

/** A lint message shown beside its `file:line` link, without a leading `<file>:<line>[:<column>]: ` (the link says where, once). */
export function messageBesideLink(message: string, file: string, workspace?: string): string {
  const names = [...new Set([file, shownPath(file, workspace), file.split(/[\\/]/).pop() ?? file])].map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return message.replace(new RegExp(`^(?:${names.join('|')})(?::\\d+){1,2}:\\s*`), '');
}

/** Everything the host posts to the panel. */
export type ToPanel = HostNotification | RpcMessage;

/** Panel → host commands (no reply). */
export type PanelCommand =
  | { type: 'ready' }
  | { type: 'startTraining'; config: RunParameters }
  | { type: 'cancelTraining' }
  | { type: 'pickModel' }
  | { type: 'pickDataset' }
  | { type: 'newRun' }
  | { type: 'diffConfigs'; runIds: [string, string] }
  | { type: 'openRunFolder'; runId: string }
  | { type: 'mergeRun'; runId: string }
  /** Resume an interrupted (failed, cancelled) run from its checkpoints/last. */
  | { type: 'resumeRun'; runId: string }
  /** The form's max_seq_len changed (the model and dataset are the host's): lint the dataset again. */
  | { type: 'lintDataset'; maxSeqLen?: number }
  /** Show the dataset lint's diagnostics in the Problems panel. */
  | { type: 'showProblems' }
  /** Open a file the lint named (the dataset or its validation file, nothing else) at a 1-based line. */
  | { type: 'openLocation'; file: string; line: number }
  /** Open an example of a run at its 1-based line: only the run's training or validation file (run.json) is opened. */
  | { type: 'openExample'; runId: string; file: string; line: number }
  /** Add lines of a run's training file (run.json dataset.path) to its exclusion list (loraLab.excludeRows), with a note ("step 12"). */
  | { type: 'excludeExamples'; runId: string; lines: number[]; note: string };

/** Everything the panel posts to the host. */
export type FromPanel = PanelCommand | RpcMessage;

/** What the panel persists across reloads (webview state + serializer). */
export interface PanelPersistedState {
  selectedRunIds: string[];
  xAxis: 'step' | 'tokens' | 'epoch';
  logScale: boolean;
  smoothing: number;
  tab?: 'configure' | 'curves' | 'evaluation' | 'runs';
}

/**
 * The configuration a Start from the panel runs: the form's settings, with each group the panel
 * sent (lora, training, ...; the panel sends whole groups) in place of the form's, on the dataset
 * and model the host picked. Paths never come from the panel.
 */
export function startConfig(form: FormState, params: RunParameters): RunConfigInput {
  const { lora, training, dataOptions, backend, threads, memoryLimitBytes } = params;
  return {
    ...form.initial,
    ...(lora && { lora }), ...(training && { training }), ...(dataOptions && { dataOptions }),
    ...(backend !== undefined && { backend }), ...(threads !== undefined && { threads }), ...(memoryLimitBytes !== undefined && { memoryLimitBytes }),
    model: form.model,
    data: form.dataset,
  };
}

// --- Decoders ------------------------------------------------------------------------------------

/**
 * A run id as the panel may send it: one folder name (no separator, not `.` or `..`, no control
 * character). Whether such a run exists under the runs folder is the host's check (runsModel.runDirOf).
 */
export function runIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return `a run id must be a non-empty string, got ${JSON.stringify(id)}`;
  // eslint-disable-next-line no-control-regex
  if (id === '.' || id === '..' || /[/\\\u0000-\u001f]/.test(id) || id.length > 255) return `"${id.slice(0, 80)}" is not a run id (one folder name under the runs folder)`;
  return undefined;
}

function runIdAt(f: Fields, k: string): string {
  const v = f.raw[k];
  const problem = runIdProblem(v);
  if (problem !== undefined || typeof v !== 'string') return fail(f.at(k), v, `a run id (${problem})`);
  return v;
}

function runIdsAt(f: Fields, k: string): string[] {
  return f.list(k, (v, path) => {
    const problem = runIdProblem(v);
    return problem === undefined && typeof v === 'string' ? v : fail(path, v, 'a run id');
  });
}

/**
 * The run parameters the panel sent: each field of the run-config table checked by its own rule;
 * anything else (paths included) is not taken.
 */
export const decodeRunParameters: Decoder<RunParameters> = decoder((v) => {
  const f = Fields.of(v, 'config');
  for (const group of ['lora', 'training', 'dataOptions']) f.optObj(group);
  const out: RunConfigInput = {};
  for (const field of RUN_FIELDS) {
    const value = getField(f.raw, field);
    if (value === undefined) continue;
    const problem = fieldProblem(field, value);
    if (problem) throw new DecodeError(`config: ${problem}`);
    setField(out, field, value);
  }
  const { lora, training, dataOptions, backend, threads, memoryLimitBytes } = out;
  return { lora, training, dataOptions, backend, threads, memoryLimitBytes };
});

/** Most lines one excludeExamples may name (a step's batch, or a list of the Examples view). */
export const EXCLUDE_MAX_LINES = 10_000;

/** One command from the panel, or why it was refused. */
export const decodePanelCommand: Decoder<PanelCommand> = decoder((v): PanelCommand => {
  const f = Fields.of(v, '');
  const type = f.oneOf('type', [
    'ready', 'startTraining', 'cancelTraining', 'pickModel', 'pickDataset', 'newRun', 'diffConfigs', 'openRunFolder', 'mergeRun', 'resumeRun',
    'lintDataset', 'showProblems', 'openLocation', 'openExample', 'excludeExamples',
  ] as const);
  switch (type) {
    case 'ready':
    case 'cancelTraining':
    case 'pickModel':
    case 'pickDataset':
    case 'newRun':
    case 'showProblems':
      return { type };
    case 'lintDataset': {
      if (!f.has('maxSeqLen')) return { type };
      const maxSeqLen = f.index('maxSeqLen');
      return maxSeqLen >= 1 ? { type, maxSeqLen } : fail(f.at('maxSeqLen'), maxSeqLen, 'a whole number ≥ 1');
    }
    case 'openLocation': {
      const line = f.index('line');
      // Which files may be opened is the host's check (the latest lint's files).
      const file = f.str('file');
      if (file === '') fail(f.at('file'), file, 'a file path');
      return line >= 1 ? { type, file, line } : fail(f.at('line'), line, 'a line number ≥ 1');
    }
    case 'openExample': {
      const line = f.index('line');
      const file = f.str('file');
      if (file === '') fail(f.at('file'), file, 'a file path');
      return line >= 1 ? { type, runId: runIdAt(f, 'runId'), file, line } : fail(f.at('line'), line, 'a line number ≥ 1');
    }
    case 'excludeExamples': {
      const lines = f.list('lines', (x, p) => (typeof x === 'number' && Number.isInteger(x) && x >= 1 ? x : fail(p, x, 'a line number ≥ 1')));
      if (lines.length === 0 || lines.length > EXCLUDE_MAX_LINES) fail(f.at('lines'), lines, `1 to ${EXCLUDE_MAX_LINES} line numbers`);
      const note = f.str('note');
      return { type, runId: runIdAt(f, 'runId'), lines, note: note.slice(0, 200) };
    }
    case 'startTraining': {
      const d = decodeRunParameters(f.raw.config);
      if (!d.ok) throw new DecodeError(d.error);
      return { type, config: d.value };
    }
    case 'diffConfigs': {
      const ids = runIdsAt(f, 'runIds');
      return ids.length === 2 ? { type, runIds: [ids[0], ids[1]] } : fail('runIds', f.raw.runIds, 'two run ids');
    }
    case 'openRunFolder':
    case 'mergeRun':
    case 'resumeRun':
      return { type, runId: runIdAt(f, 'runId') };
  }
});

function metricRow(v: unknown, path: string): MetricRow {
  const f = Fields.of(v, path);
  if (f.oneOf('type', ['step', 'eval'] as const) === 'eval') {
    return { type: 'eval', step: f.index('step'), valLoss: f.num('valLoss'), valPerplexity: f.num('valPerplexity'), best: f.bool('best') };
  }
  return {
    type: 'step', step: f.index('step'), epoch: f.num('epoch'), loss: f.num('loss'), lr: f.num('lr'), gradNorm: f.num('gradNorm'),
    tokens: f.num('tokens'), tokensPerSec: f.num('tokensPerSec'), elapsedMs: f.num('elapsedMs'),
  };
}

function runSummary(f: Fields): RunSummary {
  const s: RunSummary = {
    id: f.str('id'), dir: f.str('dir'), name: f.str('name'), status: f.oneOf('status', RUN_STATUSES), createdAt: f.str('createdAt'),
    model: f.str('model'), dataset: f.str('dataset'),
  };
  const durationMs = f.optNum('durationMs');
  if (durationMs !== undefined) s.durationMs = durationMs;
  const finalStep = f.optNum('finalStep');
  if (finalStep !== undefined) s.finalStep = finalStep;
  if (f.has('source')) s.source = f.oneOf('source', RUN_SOURCES);
  if (f.has('config')) {
    const c = decodeRunConfig(f.raw.config);
    s.config = c.ok ? c.value : fail(f.at('config'), f.raw.config, `a run config (${c.ok ? '' : c.error})`);
  }
  if (f.raw.bestValLoss === null) s.bestValLoss = null;
  else {
    const best = f.optNum('bestValLoss');
    if (best !== undefined) s.bestValLoss = best;
  }
  return s;
}

function unwrap<T>(d: Decoded<T>, path: string, v: unknown): T {
  return d.ok ? d.value : fail(path, v, `a valid value (${d.error})`);
}

function runDetail(v: unknown, path: string): RunDetail {
  const f = Fields.of(v, path);
  const rec = f.obj('record');
  const record = unwrap(decodeRunRecord({ id: rec.str('id'), dir: rec.str('dir') })(rec.raw), f.at('record'), rec.raw);
  const detail: RunDetail = { summary: runSummary(f.obj('summary')), record, metrics: f.list('metrics', metricRow) };
  const coverage = f.optObj('metricsCoverage');
  if (coverage) detail.metricsCoverage = metricsCoverage(coverage);
  if (f.has('evaluation')) detail.evaluation = unwrap(decodeEvalReport(f.raw.evaluation), f.at('evaluation'), f.raw.evaluation);
  const evaluationError = f.optStr('evaluationError');
  if (evaluationError !== undefined) detail.evaluationError = evaluationError;
  if (f.has('cases')) detail.cases = f.list('cases', runCaseReport);
  return detail;
}

function runCaseReport(v: unknown, path: string): RunCaseReport {
  const f = Fields.of(v, path);
  const c: RunCaseReport = { name: f.str('name') };
  if (f.has('report')) c.report = unwrap(decodeCasesReport(f.raw.report), f.at('report'), f.raw.report);
  const error = f.optStr('error');
  if (error !== undefined) c.error = error;
  return c;
}

/** A runCases notification's reports, checked as a RunDetail's are (the panel decodes what it keeps). */
export const decodeRunCaseReports: Decoder<RunCaseReport[]> = decoder((v) => (Array.isArray(v) ? v.map((x, i) => runCaseReport(x, `cases[${i}]`)) : fail('cases', v, 'an array')));

function metricsCoverage(f: Fields): MetricsCoverage {
  const c: MetricsCoverage = { stepRows: f.index('stepRows'), shownStepRows: f.index('shownStepRows'), downsampled: f.bool('downsampled'), bytes: f.index('bytes') };
  const tailFromStep = f.optNum('tailFromStep');
  if (tailFromStep !== undefined) c.tailFromStep = tailFromStep;
  return c;
}

const decodeRunDetail: Decoder<RunDetail> = decoder((v) => runDetail(v, 'detail'));
const decodeRunDetails: Decoder<RunDetail[]> = decoder((v) => (Array.isArray(v) ? v.map((x, i) => runDetail(x, `details[${i}]`)) : fail('details', v, 'an array')));

// --- Requests (src/protocol/rpc.ts) -------------------------------------------------------------

/**
 * The details (record, metrics, evaluation) of runs under the runs folder; unknown ids are refused.
 * Metrics are a bounded view of a long run (RunDetail.metricsCoverage) unless `full` asks for every row.
 */
export const LoadRuns = requestType<{ runIds: string[]; full?: boolean }, RunDetail[]>(
  'loadRuns',
  decoder((v) => {
    const f = Fields.of(v, 'params');
    const runIds = runIdsAt(f, 'runIds');
    return f.optBool('full') ? { runIds, full: true } : { runIds };
  }),
  decodeRunDetails,
);

/** Evaluates a run (base, adapter, merged) and answers with its detail, new eval.json included. */
export const EvaluateRun = requestType<{ runId: string }, RunDetail>(
  'evaluateRun',
  decoder((v) => ({ runId: runIdAt(Fields.of(v, 'params'), 'runId') })),
  decodeRunDetail,
);

/** Whether a message from the host is one of the notifications (the panel ignores anything else). */
export function isHostNotification(m: unknown): m is HostNotification {
  return isRecord(m) && typeof m.type === 'string' && NOTIFICATIONS.has(m.type);
}
const NOTIFICATIONS: ReadonlySet<string> = new Set<HostNotification['type']>(['showForm', 'runs', 'runStarted', 'runEvent', 'error', 'datasetLint', 'runCases']);
