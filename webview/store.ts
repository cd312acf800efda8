// The panel's state and its pure reducer: (state, host message | UI action) → state. No DOM; the
// views read the state, main.ts dispatches. Live metric rows arrive many per second: a batch of
// actions (one animation frame's worth) appends each run's rows with one copy, not one per row.
import type { SessionEvent } from '../src/core/session';
import type { EvaluationReport, FormState, MetricRow, PanelPersistedState, RunDetail, RunSummary, ToPanel } from '../src/protocol/panel';
import type { XAxis } from './chartData';
import { mergeDraft, type FormDraft } from './formModel';
import { applyLiveEvent, eventType, startingRun, type LiveRun } from './liveRun';

export type Tab = 'configure' | 'curves' | 'evaluation' | 'runs';
export const TABS: readonly Tab[] = ['configure', 'curves', 'evaluation', 'runs'];

export interface RunData {
  detail?: RunDetail;
  metrics: MetricRow[];
  evaluation?: EvaluationReport;
}

export interface State {
  tab: Tab;
  form?: FormState;
  draft?: FormDraft;
  runs: RunSummary[];
  runsLoaded: boolean;
  activeRunId?: string;
  /** Per run: what the host sent (runDetail) plus live rows. */
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
  | { type: 'ui/restore'; saved: Partial<SavedState> }
  | { type: 'ui/batch'; actions: Action[] };

export type Action = ToPanel | UiAction;

export const initialState: State = {
  tab: 'configure', runs: [], runsLoaded: false, runData: {}, selected: [], xAxis: 'step', logScale: false, smoothing: 0.6,
};

export function persisted(s: State): SavedState {
  return { selectedRunIds: s.selected, xAxis: s.xAxis, logScale: s.logScale, smoothing: s.smoothing, tab: s.tab };
}

const clampSmoothing = (v: number) => (Number.isFinite(v) ? Math.min(Math.max(v, 0), 0.999) : 0.6);

/** A live event as the metric row metrics.jsonl holds for it, if it is one. */
export function metricRowOf(ev: SessionEvent): MetricRow | undefined {
  if (ev.type === 'step') {
    const { step, epoch, loss, lr, gradNorm, tokens, tokensPerSec, elapsedMs } = ev;
    return { type: 'step', step, epoch, loss, lr, gradNorm, tokens, tokensPerSec, elapsedMs };
  }
  if (ev.type === 'eval') return { type: 'eval', step: ev.step, valLoss: ev.valLoss, valPerplexity: ev.valPerplexity, best: ev.best };
  return undefined;
}

/** The evaluation event's report: `{type, report}` or the report's fields on the event itself. */
export function evaluationOf(ev: SessionEvent): EvaluationReport {
  const o = ev as unknown as Record<string, unknown>;
  if (o.report && typeof o.report === 'object') return o.report as EvaluationReport;
  const { type: _type, ...rest } = o;
  return rest;
}

const lastStep = (rows: readonly MetricRow[]) => (rows.length ? rows[rows.length - 1].step : -Infinity);

function withRunData(s: State, runId: string, f: (d: RunData) => RunData): State {
  return { ...s, runData: { ...s.runData, [runId]: f(s.runData[runId] ?? { metrics: [] }) } };
}

function patchRun(runs: RunSummary[], runId: string, patch: Partial<RunSummary>): RunSummary[] {
  return runs.some((r) => r.id === runId) ? runs.map((r) => (r.id === runId ? { ...r, ...patch } : r)) : runs;
}

function onRunDetail(s: State, detail: RunDetail): State {
  const id = detail.summary.id;
  return withRunData(s, id, (d) => {
    // Live rows that arrived after the host read metrics.jsonl are kept.
    const after = lastStep(detail.metrics);
    const newer = d.metrics.filter((m) => m.step > after);
    return { detail, metrics: newer.length ? [...detail.metrics, ...newer] : detail.metrics, evaluation: detail.evaluation ?? d.evaluation };
  });
}

function onRunEvent(s: State, runId: string, ev: SessionEvent): State {
  const type = eventType(ev);
  if (type === 'evaluation') {
    // Also the answer to Evaluate on an old run: only the run in progress has a status line to update.
    const ours = s.live && s.live.phase !== 'finished' && (!runId || runId === s.live.runId);
    const id = runId || s.live?.runId || '';
    return withRunData(ours ? { ...s, live: applyLiveEvent(s.live, runId, ev) } : s, id, (d) => ({ ...d, evaluation: evaluationOf(ev) }));
  }
  // A log line with no run in progress (e.g. from Evaluate on an old run) has no status line to go to.
  if (type === 'log' && (!s.live || s.live.phase === 'finished')) return s;
  const live = applyLiveEvent(s.live, runId, ev);
  let next: State = { ...s, live };
  const id = live.runId;
  if (ev.type === 'run') {
    next = {
      ...next, activeRunId: id, selected: next.selected.includes(id) ? next.selected : [...next.selected, id],
      tab: next.tab === 'configure' ? 'curves' : next.tab, runData: next.runData[id] ? next.runData : { ...next.runData, [id]: { metrics: [] } },
    };
  }
  if (ev.type === 'eval' && ev.best && id) next = { ...next, runs: patchRun(next.runs, id, { bestValLoss: ev.valLoss }) };
  if (ev.type === 'finished' && id) next = { ...next, runs: patchRun(next.runs, id, { status: ev.status }) };
  const row = metricRowOf(ev);
  if (row && id) next = withRunData(next, id, (d) => ({ ...d, metrics: [...d.metrics, row] }));
  return next;
}

function onMessage(s: State, m: ToPanel): State {
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
    case 'runEvent':
      return onRunEvent(s, m.runId, m.event);
    case 'focusRun':
      return { ...s, focusedRunId: m.runId, selected: s.selected.includes(m.runId) ? s.selected : [...s.selected, m.runId], tab: 'curves' };
    case 'error':
      return { ...s, error: m.message, live: s.live?.phase === 'starting' ? undefined : s.live };
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
      const v = a.saved;
      return {
        ...s,
        selected: Array.isArray(v.selectedRunIds) ? v.selectedRunIds.filter((x) => typeof x === 'string') : s.selected,
        xAxis: v.xAxis === 'step' || v.xAxis === 'tokens' || v.xAxis === 'epoch' ? v.xAxis : s.xAxis,
        logScale: typeof v.logScale === 'boolean' ? v.logScale : s.logScale,
        smoothing: typeof v.smoothing === 'number' ? clampSmoothing(v.smoothing) : s.smoothing,
        tab: v.tab && TABS.includes(v.tab) ? v.tab : s.tab,
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
      const row = metricRowOf(a.event);
      if (row && a.event.type === 'step') {
        // The live status still sees every step; only the rows are deferred.
        const live = applyLiveEvent(s.live, a.runId, a.event);
        s = { ...s, live };
        if (live.runId) {
          const rows = buffered.get(live.runId) ?? [];
          rows.push(row);
          buffered.set(live.runId, rows);
        }
        continue;
      }
      flush(s.live?.runId || a.runId);
    } else if (a.type === 'runDetail') flush(a.detail.summary.id);
    else if (a.type === 'ui/batch') flush();
    s = reduce(s, a);
  }
  flush();
  return s;
}

export function reduce(s: State, a: Action): State {
  if (a.type === 'ui/batch') return reduceBatch(s, a.actions);
  if (a.type.startsWith('ui/')) return onUi(s, a as Exclude<UiAction, { type: 'ui/batch' }>);
  return onMessage(s, a as ToPanel);
}

/** Runs whose details (record, config, metrics so far) the panel lacks: the selected ones and the focused one. */
export function runsToLoad(s: State): string[] {
  const want = [...s.selected, ...(s.focusedRunId ? [s.focusedRunId] : [])];
  return [...new Set(want)].filter((id) => !s.runData[id]?.detail);
}

/** The run the Evaluation section shows: the focused one, else the only selected one, else the active one. */
export function evaluationRunId(s: State): string | undefined {
  return s.focusedRunId ?? (s.selected.length === 1 ? s.selected[0] : undefined) ?? s.activeRunId ?? s.selected[s.selected.length - 1];
}
