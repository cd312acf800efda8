// The panel's state and its pure reducer: (state, host message | reply | UI action) → state. No
// DOM; the views read the state, main.ts dispatches. The run in progress is `live` (liveRun.ts):
// its id comes with runStarted, with the run as on disk then, and every later live event belongs
// to it. Live metric rows arrive many per second: a batch of actions (one animation frame's
// worth) appends each run's rows with one copy, not one per row.
import { isRecord } from '../src/protocol/decode';
import type { EvalReport } from '../src/protocol/evaluation';
import { plotted } from '../src/protocol/metrics';
import { decodeRunCaseReports, type DatasetLintState, type FormState, type HostNotification, type MetricRow, type PanelPersistedState, type RunCaseReport, type RunDetail, type RunSummary } from '../src/protocol/panel';
import type { SessionEvent } from '../src/protocol/worker';
import type { XAxis } from './chartData';
import { mergeDraft, type FormDraft } from './formModel';
import { applyLiveEvent, startingRun, type LiveRun } from './liveRun';

export type Tab = 'configure' | 'curves' | 'evaluation' | 'runs';
export const TABS: readonly Tab[] = ['configure', 'curves', 'evaluation', 'runs'];

export interface RunData {
  detail?: RunDetail;
  metrics: MetricRow[];
  evaluation?: EvalReport;
  /** eval.json exists but could not be used: why. */
  evaluationError?: string;
  /** The case reports of `<run>/evals/` (issue 16), as last read by the host. */
  cases?: RunCaseReport[];
}

export interface State {
  tab: Tab;
  form?: FormState;
  draft?: FormDraft;
  /** The dataset lint of the form's dataset (the Configure section's summary; Start waits on its errors). */
  lint?: DatasetLintState;
  runs: RunSummary[];
  runsLoaded: boolean;
  activeRunId?: string;
  /** Per run: its detail from disk (a LoadRuns or EvaluateRun reply, or runStarted) plus live rows. */
  runData: Record<string, RunData>;
  /** Runs whose curves are overlaid, in selection order (one colour each). */
  selected: string[];
  /** The run the Evaluation section shows. */
  focusedRunId?: string;
  xAxis: XAxis;
  logScale: boolean;
  smoothing: number;
  live?: LiveRun;
  error?: string;
}

/** What survives a window reload: the persisted panel state plus the open section. */
export type SavedState = PanelPersistedState & { tab?: Tab };

export type UiAction =
  | { type: 'ui/tab'; tab: Tab }
  | { type: 'ui/draft'; patch: Partial<FormDraft> }
  | { type: 'ui/toggleRun'; runId: string }
  | { type: 'ui/select'; runIds: string[] }
  | { type: 'ui/focus'; runId: string }
  | { type: 'ui/xAxis'; xAxis: XAxis }
  | { type: 'ui/logScale'; logScale: boolean }
  | { type: 'ui/smoothing'; smoothing: number }
  | { type: 'ui/starting' }
  | { type: 'ui/dismissError' }
  /** `saved` is whatever the webview state held (an older panel's, or junk): checked field by field. */
  | { type: 'ui/restore'; saved: unknown }
  | { type: 'ui/batch'; actions: Action[] };

/** A run's detail, from a reply to LoadRuns or EvaluateRun. */
export type DetailAction = { type: 'runDetail'; detail: RunDetail };

export type Action = HostNotification | DetailAction | UiAction;

export const initialState: State = {
  tab: 'configure', runs: [], runsLoaded: false, runData: {}, selected: [], xAxis: 'step', logScale: false, smoothing: 0.6,
};

export function persisted(s: State): SavedState {
  return { selectedRunIds: s.selected, xAxis: s.xAxis, logScale: s.logScale, smoothing: s.smoothing, tab: s.tab };
}

const XAXES: readonly XAxis[] = ['step', 'tokens', 'epoch'];

const clampSmoothing = (v: number) => (Number.isFinite(v) ? Math.min(Math.max(v, 0), 0.999) : 0.6);

/** A live event as the panel plots it, if it is a step or eval. */
export function metricRowOf(ev: SessionEvent): MetricRow | undefined {
  return ev.type === 'step' || ev.type === 'eval' ? plotted(ev) : undefined;
}

const lastStep = (rows: readonly MetricRow[]) => (rows.length ? rows[rows.length - 1].step : -Infinity);

function withRunData(s: State, runId: string, f: (d: RunData) => RunData): State {
  return { ...s, runData: { ...s.runData, [runId]: f(s.runData[runId] ?? { metrics: [] }) } };
}

function patchRun(runs: RunSummary[], runId: string, patch: Partial<RunSummary>): RunSummary[] {
  return runs.some((r) => r.id === runId) ? runs.map((r) => (r.id === runId ? { ...r, ...patch } : r)) : runs;
}

/** The run's data as read from disk. */
function fromDisk(detail: RunDetail): RunData {
  return { detail, metrics: detail.metrics, evaluation: detail.evaluation, evaluationError: detail.evaluationError, cases: detail.cases };
}

function onRunDetail(s: State, detail: RunDetail): State {
  const id = detail.summary.id;
  return withRunData(s, id, (d) => {
    // A bounded view (an Evaluate's reply) after every row was loaded ("Load all", or a short run
    // followed live): the rows held stay, with what the view has past them.
    if (detail.metricsCoverage?.downsampled && d.detail && !d.detail.metricsCoverage?.downsampled) {
      const held = lastStep(d.metrics);
      const past = detail.metrics.filter((m) => m.step > held);
      const kept = { ...detail, metrics: d.detail.metrics, metricsCoverage: d.detail.metricsCoverage };
      return { ...fromDisk(kept), metrics: past.length ? [...d.metrics, ...past] : d.metrics, evaluation: detail.evaluation ?? d.evaluation };
    }
    // A reloaded panel asks for the live run while it goes on: rows that arrived after the host
    // read metrics.jsonl are kept.
    const after = lastStep(detail.metrics);
    const newer = d.metrics.filter((m) => m.step > after);
    const disk = fromDisk(detail);
    return { ...disk, metrics: newer.length ? [...detail.metrics, ...newer] : detail.metrics, evaluation: detail.evaluation ?? d.evaluation };
  });
}

/**
 * The live run has its folder: it becomes the active, selected, focused run, with its rows so far
 * from disk. A panel that rejoins a run in progress keeps its view (tab, selection) and follows it.
 */
function onRunStarted(s: State, m: Extract<HostNotification, { type: 'runStarted' }>): State {
  const id = m.event.runId;
  let next: State = { ...s, live: applyLiveEvent(s.live, m.event), activeRunId: id };
  next = m.detail ? onRunDetail(next, m.detail) : next.runData[id] ? next : { ...next, runData: { ...next.runData, [id]: { metrics: [] } } };
  if (m.rejoined) return next;
  return { ...next, focusedRunId: id, tab: 'curves', selected: next.selected.includes(id) ? next.selected : [...next.selected, id] };
}

/** An event of the live run; before runStarted (config, data, backend, an early failure) it has no run folder yet. */
function onLiveEvent(s: State, ev: Exclude<SessionEvent, { type: 'run' }>): State {
  // With no run in progress, a log line has no status line to go to, and an evaluation no run to
  // belong to (an Evaluate of an old run comes back as its detail).
  const idle = !s.live || s.live.phase === 'finished';
  if (idle && (ev.type === 'log' || ev.type === 'evaluation')) return s;
  const live = applyLiveEvent(s.live, ev);
  let next: State = { ...s, live };
  const id = live.runId;
  if (!id) return next;
  if (ev.type === 'evaluation') return withRunData(next, id, (d) => ({ ...d, evaluation: ev.report, evaluationError: undefined }));
  if (ev.type === 'eval' && ev.best) next = { ...next, runs: patchRun(next.runs, id, { bestValLoss: ev.valLoss }) };
  if (ev.type === 'finished') next = { ...next, runs: patchRun(next.runs, id, { status: ev.status }) };
  const row = metricRowOf(ev);
  if (row) next = withRunData(next, id, (d) => ({ ...d, metrics: [...d.metrics, row] }));
  return next;
}

/**
 * A run's evals/ changed on disk: its case reports as now, checked here (a notification is not
 * decoded on the way in); kept only for a run whose detail the panel holds or asked for.
 */
function onRunCases(s: State, runId: string, raw: unknown): State {
  if (!s.runData[runId]) return s;
  const d = decodeRunCaseReports(raw);
  const cases: RunCaseReport[] = d.ok ? d.value : [{ name: 'evals/', error: `The case reports sent for run ${runId} could not be read: ${d.error}` }];
  return withRunData(s, runId, (r) => ({ ...r, cases }));
}

function onMessage(s: State, m: HostNotification | DetailAction): State {
  switch (m.type) {
    case 'showForm': {
      // A form back from the host ends a start that never began (e.g. it failed validation). The
      // first form (sent on ready) keeps the tab a reload restored; later ones open Configure.
      const live = s.live?.phase === 'starting' ? undefined : s.live;
      return { ...s, form: m.form, draft: mergeDraft(s.draft, m.form), tab: s.form ? 'configure' : s.tab, live };
    }
    case 'runs': {
      const ids = new Set(m.runs.map((r) => r.id));
      const keep = (id: string) => ids.has(id) || id === m.activeRunId;
      // A panel opened without a form ("Show Results") has only the model and dataset pickers to
      // show under Configure: when runs exist, the first list opens on them instead.
      const tab = !s.runsLoaded && !s.form && s.tab === 'configure' && m.runs.length > 0 ? 'runs' : s.tab;
      return {
        ...s, tab, runs: m.runs, runsLoaded: true, activeRunId: m.activeRunId ?? (s.live?.phase === 'finished' ? undefined : s.activeRunId),
        selected: s.selected.filter(keep), focusedRunId: s.focusedRunId && keep(s.focusedRunId) ? s.focusedRunId : undefined,
      };
    }
    case 'runDetail':
      return onRunDetail(s, m.detail);
    case 'runStarted':
      return onRunStarted(s, m);
    case 'runEvent':
      return onLiveEvent(s, m.event);
    case 'error':
      return { ...s, error: m.message, live: s.live?.phase === 'starting' ? undefined : s.live };
    case 'datasetLint':
      return { ...s, lint: m.lint };
    case 'runCases':
      return onRunCases(s, m.runId, m.cases);
  }
}

function onUi(s: State, a: Exclude<UiAction, { type: 'ui/batch' }>): State {
  switch (a.type) {
    case 'ui/tab':
      return { ...s, tab: a.tab };
    case 'ui/draft':
      return s.draft ? { ...s, draft: { ...s.draft, ...a.patch } } : s;
    case 'ui/toggleRun':
      return { ...s, selected: s.selected.includes(a.runId) ? s.selected.filter((x) => x !== a.runId) : [...s.selected, a.runId] };
    case 'ui/select':
      return { ...s, selected: [...new Set(a.runIds)] };
    case 'ui/focus':
      return { ...s, focusedRunId: a.runId };
    case 'ui/xAxis':
      return { ...s, xAxis: a.xAxis };
    case 'ui/logScale':
      return { ...s, logScale: a.logScale };
    case 'ui/smoothing':
      return { ...s, smoothing: clampSmoothing(a.smoothing) };
    case 'ui/starting':
      return { ...s, live: startingRun(), error: undefined };
    case 'ui/dismissError':
      return { ...s, error: undefined };
    case 'ui/restore': {
      const v = isRecord(a.saved) ? a.saved : {};
      const xAxis = XAXES.find((x) => x === v.xAxis);
      const tab = TABS.find((t) => t === v.tab);
      return {
        ...s,
        selected: Array.isArray(v.selectedRunIds) ? v.selectedRunIds.filter((x): x is string => typeof x === 'string') : s.selected,
        xAxis: xAxis ?? s.xAxis,
        logScale: typeof v.logScale === 'boolean' ? v.logScale : s.logScale,
        smoothing: typeof v.smoothing === 'number' ? clampSmoothing(v.smoothing) : s.smoothing,
        tab: tab ?? s.tab,
      };
    }
  }
}

/**
 * Many actions at once, equal to applying them in order; live metric rows are buffered per run and
 * appended with one copy (a runDetail for that run flushes the buffer first, to merge correctly).
 */
function reduceBatch(state: State, actions: readonly Action[]): State {
  let s = state;
  const buffered = new Map<string, MetricRow[]>();
  const flush = (runId?: string) => {
    for (const [id, rows] of buffered) {
      if (runId !== undefined && id !== runId) continue;
      s = withRunData(s, id, (d) => ({ ...d, metrics: d.metrics.concat(rows) }));
      buffered.delete(id);
    }
  };
  for (const a of actions) {
    if (a.type === 'runEvent') {
      const ev = a.event;
      if (ev.type === 'step') {
        // The live status still sees every step; only the rows are deferred.
        const live = applyLiveEvent(s.live, ev);
        s = { ...s, live };
        if (live.runId) {
          const rows = buffered.get(live.runId) ?? [];
          rows.push(plotted(ev));
          buffered.set(live.runId, rows);
        }
        continue;
      }
      flush();
    } else if (a.type === 'runDetail') flush(a.detail.summary.id);
    else if (a.type === 'runStarted' || a.type === 'ui/batch') flush();
    s = reduce(s, a);
  }
  flush();
  return s;
}

export function reduce(s: State, a: Action): State {
  if (a.type === 'ui/batch') return reduceBatch(s, a.actions);
  return isUiAction(a) ? onUi(s, a) : onMessage(s, a);
}

function isUiAction(a: Action): a is Exclude<UiAction, { type: 'ui/batch' }> {
  return a.type.startsWith('ui/');
}

/**
 * Runs whose details (record, metrics so far, evaluation) the panel lacks: the selected ones and
 * the focused one, once the host has listed the runs, and only listed ones (a selection restored
 * after a reload may name a run deleted since: the host would refuse the id).
 */
export function runsToLoad(s: State): string[] {
  if (!s.runsLoaded) return [];
  const known = new Set(s.runs.map((r) => r.id));
  if (s.activeRunId) known.add(s.activeRunId);
  const want = [...s.selected, ...(s.focusedRunId ? [s.focusedRunId] : [])];
  return [...new Set(want)].filter((id) => known.has(id) && !s.runData[id]?.detail);
}

/** The run the Evaluation section shows: the focused one, else the only selected one, else the active one. */
export function evaluationRunId(s: State): string | undefined {
  return s.focusedRunId ?? (s.selected.length === 1 ? s.selected[0] : undefined) ?? s.activeRunId ?? s.selected[s.selected.length - 1];
}
