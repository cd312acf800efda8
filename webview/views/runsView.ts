// The Runs section: every run, labelled by what differs among the runs listed (r, α, lr, targets,
// dataset, …; protocol/runLabels.ts) with its id beside, status, best validation loss, steps,
// duration and creation time; a run another engine trained (TRL, via lora-lab import) is marked as
// such beside its status. Rows are a multi-select grid (click, Enter or Space toggles; arrow keys move) whose
// selection is what the chart overlays; the toolbar acts on one run or diffs two.
import type { RunSummary } from '../../src/protocol/panel';
import type { HostApi } from '../host';
import { h, onActivate, setChildren, setText } from '../dom';
import { baseName, fmtDate, fmtDuration, fmtInt, fmtLoss } from '../format';
import { runColorIndices } from '../runColors';
import { labelsOfSummaries, sourceBadge } from '../runIdentity';
import { RUN_VARS } from '../theme';
import type { Action, State } from '../store';

type Button = HTMLElement & { disabled: boolean };

/** Statuses of a run that stopped early: it can resume from its last checkpoint. */
const RESUMABLE: readonly RunSummary['status'][] = ['interrupted', 'failed', 'cancelled'];

export class RunsView {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly selectionInfo: HTMLElement;
  private readonly buttons: Record<'diff' | 'open' | 'resume' | 'evaluate' | 'merge' | 'showEval', Button>;
  private focusId?: string;
  private last?: { runs: RunSummary[]; selected: string[]; active?: string; focused?: string };
  private state?: State;
  private labels?: { runs: RunSummary[]; map: Map<string, string> };

  constructor(
    private readonly host: HostApi,
    private readonly dispatch: (a: Action) => void,
  ) {
    const one = (f: (id: string) => void) => () => {
      const id = this.single();
      if (id) f(id);
    };
    const btn = (label: string, title: string, onclick: () => void, secondary = true): Button =>
      h('vscode-button', { secondary, title, disabled: true, onclick: (e: Event) => !(e.currentTarget as Button).disabled && onclick() }, label) as Button;
    this.buttons = {
      diff: btn('Diff configs', 'Compare the configurations of the two selected runs', () => {
        const s = this.state?.selected ?? [];
        if (s.length === 2) this.host.post({ type: 'diffConfigs', runIds: [s[0], s[1]] });
      }),
      open: btn('Open folder', 'Reveal the selected run folder', one((runId) => this.host.post({ type: 'openRunFolder', runId }))),
      resume: btn('Resume', 'Resume this interrupted, failed or cancelled run from its last checkpoint', one((runId) => this.host.post({ type: 'resumeRun', runId }))),
      evaluate: btn('Evaluate', 'Evaluate base, adapter and merged model on the validation set', one((runId) => this.host.evaluate(runId))),
      merge: btn('Merge and export', 'Merge the adapter into the base model and save it', one((runId) => this.host.post({ type: 'mergeRun', runId }))),
      showEval: btn('Show evaluation', 'Show this run in the Evaluation section', one((runId) => {
        this.dispatch({ type: 'ui/focus', runId });
        this.dispatch({ type: 'ui/tab', tab: 'evaluation' });
      })),
    };
    const newRun = h('vscode-button', { title: 'Configure a new training run', onclick: () => {
      this.host.post({ type: 'newRun' });
      this.dispatch({ type: 'ui/tab', tab: 'configure' });
    } }, 'New run…');
    this.body = h('tbody');
    this.empty = h('p', { class: 'empty', hidden: true }, 'No runs yet in this workspace. Configure one and press Start.');
    this.selectionInfo = h('span', { class: 'hint', 'aria-live': 'polite' });
    this.el = h('section', { class: 'runs', 'aria-label': 'Runs' },
      h('div', { class: 'toolbar' }, newRun, this.buttons.diff, this.buttons.open, this.buttons.resume, this.buttons.evaluate, this.buttons.merge, this.buttons.showEval, this.selectionInfo),
      h('table', { class: 'data-table runs-table', role: 'grid', 'aria-multiselectable': 'true', 'aria-label': 'Runs; Enter or Space selects a run to plot' },
        h('thead', null, h('tr', null, ...['', 'Run', 'Status', 'Best val loss', 'Steps', 'Duration', 'Created', 'Model', 'Dataset'].map((t, i) =>
          h('th', { scope: 'col', class: [3, 4, 5].includes(i) ? 'num' : undefined }, i === 0 ? h('span', { class: 'visually-hidden' }, 'Selected') : t)))),
        this.body),
      this.empty);
    this.body.addEventListener('keydown', (ev) => this.onKey(ev));
  }

  private single(): string | undefined {
    const s = this.state?.selected ?? [];
    return s.length === 1 ? s[0] : undefined;
  }

  update(s: State): void {
    this.state = s;
    const l = this.last;
    if (l && l.runs === s.runs && l.selected === s.selected && l.active === s.activeRunId && l.focused === s.focusedRunId) return;
    this.last = { runs: s.runs, selected: s.selected, active: s.activeRunId, focused: s.focusedRunId };
    const n = s.selected.length;
    const single = n === 1 ? s.runs.find((r) => r.id === s.selected[0]) : undefined;
    this.buttons.diff.disabled = n !== 2;
    this.buttons.open.disabled = !single;
    // A run stopped before its adapter was written: Resume, or evaluate/merge a checkpoint (the host offers them).
    const stopped = !!single && RESUMABLE.includes(single.status) && single.id !== s.activeRunId;
    this.buttons.resume.disabled = !stopped;
    this.buttons.evaluate.disabled = !single || !(single.status === 'completed' || stopped);
    this.buttons.merge.disabled = !single || !(single.status === 'completed' || stopped);
    this.buttons.showEval.disabled = !single;
    setText(this.selectionInfo, n === 0 ? 'Select runs to plot them.' : `${n} selected${n === 2 ? '' : n > 2 ? ' (Diff configs needs exactly two)' : ''}`);
    this.empty.hidden = !s.runsLoaded || s.runs.length > 0;
    const hadFocus = this.body.contains(document.activeElement);
    if (!this.focusId || !s.runs.some((r) => r.id === this.focusId)) this.focusId = s.runs[0]?.id;
    if (this.labels?.runs !== s.runs) this.labels = { runs: s.runs, map: labelsOfSummaries(s.runs) };
    const colors = runColorIndices(s.selected, RUN_VARS.length);
    setChildren(this.body, s.runs.map((r) => this.row(r, s, this.labels!.map.get(r.id) ?? r.id, colors.get(r.id))));
    if (hadFocus) this.rowOf(this.focusId)?.focus();
  }

  private row(r: RunSummary, s: State, label: string, color: number | undefined): HTMLElement {
    const selected = color !== undefined;
    const live = r.id === s.activeRunId && s.live && s.live.phase !== 'finished';
    const badge = sourceBadge(r);
    const tr = h('tr', {
      role: 'row', 'aria-selected': String(selected), tabindex: r.id === this.focusId ? '0' : '-1', 'data-run': r.id,
      class: selected ? 'selected' : undefined, title: r.dir,
    },
      h('td', { role: 'gridcell' },
        h('input', { type: 'checkbox', tabindex: '-1', 'aria-hidden': 'true', '.checked': selected }),
        selected ? h('span', { class: 'swatch', style: `background: var(${RUN_VARS[color % RUN_VARS.length]})` }) : null),
      h('td', { role: 'gridcell' }, h('span', { class: 'run-label' }, label), h('span', { class: 'run-id hint' }, r.id)),
      h('td', { role: 'gridcell' }, h('span', { class: `status status-${r.status}` }, live ? 'running' : r.status),
        badge ? h('span', { class: 'source-badge', title: badge.title }, badge.text) : null),
      h('td', { role: 'gridcell', class: 'num' }, fmtLoss(r.bestValLoss ?? undefined)),
      h('td', { role: 'gridcell', class: 'num' }, fmtInt(r.finalStep)),
      h('td', { role: 'gridcell', class: 'num' }, fmtDuration(r.durationMs)),
      h('td', { role: 'gridcell' }, fmtDate(r.createdAt)),
      h('td', { role: 'gridcell', title: r.model }, baseName(r.model)),
      h('td', { role: 'gridcell', title: r.dataset }, baseName(r.dataset)));
    onActivate(tr, () => {
      this.focusId = r.id;
      this.dispatch({ type: 'ui/toggleRun', runId: r.id });
    });
    tr.addEventListener('focus', () => {
      this.focusId = r.id;
    });
    return tr;
  }

  private rowOf(id: string | undefined): HTMLElement | undefined {
    if (!id) return undefined;
    return Array.from(this.body.querySelectorAll<HTMLElement>('tr[data-run]')).find((e) => e.dataset.run === id);
  }

  private onKey(ev: KeyboardEvent): void {
    if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp' && ev.key !== 'Home' && ev.key !== 'End') return;
    const rows = Array.from(this.body.querySelectorAll<HTMLElement>('tr[data-run]'));
    const i = rows.findIndex((r) => r === document.activeElement);
    const j = ev.key === 'Home' ? 0 : ev.key === 'End' ? rows.length - 1 : Math.min(rows.length - 1, Math.max(0, i + (ev.key === 'ArrowDown' ? 1 : -1)));
    if (!rows[j]) return;
    ev.preventDefault();
    rows.forEach((r, k) => r.setAttribute('tabindex', k === j ? '0' : '-1'));
    this.focusId = rows[j].dataset.run;
    rows[j].focus();
  }
}
