// The panel's frame: the status area on top, then one tab per section (Configure, Loss curves,
// Evaluation, Runs). The open tab lives in the store; the views get told which one is visible.
import { h } from '../dom';
import { TABS, type Action, type State, type Tab } from '../store';

const LABELS: Record<Tab, string> = { configure: 'Configure', curves: 'Loss curves', evaluation: 'Evaluation', runs: 'Runs' };

export interface Section {
  el: HTMLElement;
  update(s: State): void;
  setVisible?(v: boolean): void;
}

export class Shell {
  readonly el: HTMLElement;
  private readonly tabs: HTMLElement & { selectedIndex: number };
  private readonly counts: HTMLElement;
  private current?: Tab;

  constructor(
    status: Section,
    private readonly sections: Record<Tab, Section>,
    dispatch: (a: Action) => void,
  ) {
    this.counts = h('span', { class: 'tab-count' });
    this.tabs = h('vscode-tabs', { 'aria-label': 'LoRA Lab sections' },
      TABS.map((t) => h('vscode-tab-header', { slot: 'header', 'data-tab': t }, LABELS[t], t === 'runs' ? this.counts : null)),
      TABS.map((t) => h('vscode-tab-panel', { 'data-tab': t }, sections[t].el))) as HTMLElement & { selectedIndex: number };
    this.tabs.addEventListener('vsc-tabs-select', (e) => {
      const i = (e as CustomEvent<{ selectedIndex: number }>).detail.selectedIndex;
      if (TABS[i]) dispatch({ type: 'ui/tab', tab: TABS[i] });
    });
    this.el = h('div', { class: 'shell' }, status.el, this.tabs);
  }

  update(s: State): void {
    const i = TABS.indexOf(s.tab);
    if (this.tabs.selectedIndex !== i) this.tabs.selectedIndex = i;
    this.counts.textContent = s.runs.length ? ` (${s.runs.length})` : '';
    for (const t of TABS) this.sections[t].update(s);
    if (this.current !== s.tab) {
      for (const t of TABS) this.sections[t].setVisible?.(t === s.tab);
      this.current = s.tab;
    }
  }
}
