// The status line of the run in progress: the phase, its n/N and ETA as the one narrator tells
// them (src/protocol/progress.ts, as in the status bar), loss, tokens/s, a progress bar over the
// phase and Cancel; after the run, its outcome. Also the panel's error banner.
import type { FromPanel } from '../../src/protocol/panel';
import { h, setText } from '../dom';
import { countText, etaText, phaseFraction, phaseText } from '../../src/protocol/progress';
import { fmtCompact, fmtLoss } from '../format';
import type { Action, State } from '../store';

export class StatusView {
  readonly el: HTMLElement;
  private readonly line: HTMLElement;
  private readonly text: HTMLElement;
  private readonly progress: HTMLProgressElement;
  private readonly cancel: HTMLElement & { disabled: boolean };
  private readonly warnings: HTMLElement;
  private readonly errorBox: HTMLElement;
  private readonly errorText: HTMLElement;
  private last?: { live: State['live']; error?: string };

  constructor(post: (m: FromPanel) => void, dispatch: (a: Action) => void) {
    this.text = h('span', { class: 'status-text' });
    this.progress = h('progress', { max: '1', value: '0', 'aria-label': 'Training progress' });
    this.cancel = h('vscode-button', {
      secondary: true, title: 'Stop after the current step and save a checkpoint',
      onclick: () => {
        if (this.cancel.disabled) return;
        this.cancel.disabled = true;
        post({ type: 'cancelTraining' });
      },
    }, 'Cancel') as HTMLElement & { disabled: boolean };
    this.warnings = h('div', { class: 'warnings' });
    this.line = h('div', { class: 'status-line', role: 'status', 'aria-live': 'polite', hidden: true }, this.text, this.progress, this.cancel);
    this.errorText = h('span');
    this.errorBox = h('div', { class: 'banner error', role: 'alert', hidden: true }, this.errorText,
      h('vscode-button', { secondary: true, 'aria-label': 'Dismiss the error', onclick: () => dispatch({ type: 'ui/dismissError' }) }, 'Dismiss'));
    this.el = h('div', { class: 'status-area' }, this.errorBox, this.line, this.warnings);
  }

  update(s: State): void {
    const l = this.last;
    if (l && l.live === s.live && l.error === s.error) return;
    this.last = { live: s.live, error: s.error };
    this.errorBox.hidden = !s.error;
    setText(this.errorText, s.error ?? '');
    const live = s.live;
    this.line.hidden = !live;
    if (!live) return;
    const running = live.phase !== 'finished';
    this.line.className = `status-line phase-${live.phase}${live.outcome ? ` outcome-${live.outcome.status}` : ''}`;
    if (running && this.cancel.hidden) this.cancel.disabled = false;
    this.cancel.hidden = !running || live.phase === 'starting';
    const name = live.runId ? `${live.runId}: ` : '';
    // Phase, its count and ETA from the one narrator (the status bar says the same); the training figures beside them.
    const p = live.progress;
    const parts: string[] = [countText(p)];
    if (live.step > 0) {
      if (p.phase === 'training' && live.epoch !== undefined) parts.push(`epoch ${live.epoch.toFixed(2)}`);
      parts.push(`loss ${fmtLoss(live.loss)}`);
      if (live.lastValLoss !== undefined) parts.push(`val ${fmtLoss(live.lastValLoss)}${live.bestValLoss !== undefined ? ` (best ${fmtLoss(live.bestValLoss)})` : ''}`);
      if (p.phase === 'training' && live.tokensPerSec !== undefined) parts.push(`${fmtCompact(Math.round(live.tokensPerSec))} tokens/s`);
    }
    parts.push(etaText(p));
    const shown = parts.filter((x) => x);
    setText(this.text, `${name}${phaseText(p)}${shown.length ? ' · ' + shown.join(' · ') : running ? '…' : ''}`);
    this.line.dataset.phase = p.phase;
    const fraction = phaseFraction(p);
    this.progress.hidden = fraction === undefined;
    if (fraction !== undefined) this.progress.value = fraction;
    this.warnings.replaceChildren(...live.warnings.map((w) => h('div', { class: 'warning' }, `⚠ ${w}`)));
  }
}
