// The Configure section: the run's form prefilled from FormState, validated as the user types
// (messages next to the fields), with PEFT's trainable-parameter count and the per-module
// r·(in+out) vs in·out arithmetic updated live; Start posts startTraining with the config.
import type { FormState, FromPanel } from '../../src/protocol/panel';
import { h, setChildren, setText, toggleAttr } from '../dom';
import { fmtInt, fmtPercent } from '../format';
import { ALL_LINEAR, BACKENDS, SCHEDULES, formField, paramPreview, validateDraft, type DraftField, type FormDraft, type Validation } from '../formModel';
import { formHelp } from '../../src/protocol/runConfig';
import type { Action, State } from '../store';

type Control = HTMLElement & { value: string; invalid?: boolean; disabled?: boolean };

/** A field's label and hint, from the run-config table. */
const labelOf = (f: DraftField) => formField(f)?.label ?? f;
const helpOf = (f: DraftField) => {
  const field = formField(f);
  return field ? formHelp(field) : undefined;
};

export class ConfigureView {
  readonly el: HTMLElement;
  private controls = new Map<DraftField, Control>();
  private errors = new Map<DraftField, HTMLElement>();
  private params?: HTMLElement;
  private start?: HTMLElement & { disabled: boolean };
  private startHint?: HTMLElement;
  private readonly targetsHelp = h('div', { class: 'field-help' });
  private lengthFields?: { epochs: HTMLElement; maxSteps: HTMLElement };
  private form?: FormState;
  private draft?: FormDraft;
  private validation?: Validation;
  private running = false;

  constructor(
    private readonly post: (m: FromPanel) => void,
    private readonly dispatch: (a: Action) => void,
  ) {
    this.el = h('section', { class: 'configure', 'aria-label': 'Configure a run' });
    this.renderWaiting();
  }

  update(s: State): void {
    this.running = !!s.live && s.live.phase !== 'finished';
    if (s.form !== this.form) {
      this.form = s.form;
      this.draft = undefined;
      if (s.form && s.draft) this.build(s.form, s.draft);
      else this.renderWaiting();
    }
    if (!this.form || !s.draft) return;
    if (s.draft !== this.draft) {
      this.draft = s.draft;
      this.validation = validateDraft(s.draft, this.form);
      this.showErrors(this.validation);
      this.showParams(this.form, s.draft);
      const t = s.draft.targetModules;
      setText(this.targetsHelp, t.includes(ALL_LINEAR) ? 'all-linear: every linear layer in the blocks' : t.length ? `Adapting ${t.join(', ')} (PEFT matches by name suffix)` : '');
      if (this.lengthFields) {
        this.lengthFields.epochs.hidden = s.draft.lengthMode !== 'epochs';
        this.lengthFields.maxSteps.hidden = s.draft.lengthMode !== 'maxSteps';
      }
    }
    if (this.start) {
      const invalid = !this.validation?.config;
      this.start.disabled = invalid || this.running;
      setText(this.startHint!, this.running ? 'A run is in progress: cancel it or wait for it to finish.' : invalid ? 'Fix the fields marked in red to start.' : '');
    }
  }

  private pickers(): HTMLElement {
    return h('div', { class: 'toolbar' },
      h('vscode-button', { secondary: true, onclick: () => this.post({ type: 'pickModel' }) }, 'Pick model…'),
      h('vscode-button', { secondary: true, onclick: () => this.post({ type: 'pickDataset' }) }, 'Pick dataset…'));
  }

  private renderWaiting(): void {
    this.controls.clear();
    this.errors.clear();
    this.start = undefined;
    setChildren(this.el, h('p', { class: 'empty' }, 'Pick a model folder and a dataset to configure a run.'), this.pickers());
  }

  private build(form: FormState, d: FormDraft): void {
    this.controls.clear();
    this.errors.clear();
    const spec = form.modelSpec;
    const text = (f: DraftField, placeholder?: string, label = labelOf(f)) =>
      this.field(f, label, h('vscode-textfield', { id: `f-${f}`, label, '.value': String(d[f]), placeholder, oninput: (e: Event) => this.edit(f, (e.currentTarget as Control).value) }) as Control);
    const select = (f: DraftField, options: readonly string[], label = labelOf(f)) =>
      this.field(f, label, h('vscode-single-select', { id: `f-${f}`, label, onchange: (e: Event) => this.edit(f, (e.currentTarget as Control).value) },
        options.map((o) => h('vscode-option', { value: o, selected: o === d[f] }, o))) as Control);
    const choices = form.moduleChoices.includes(ALL_LINEAR) ? form.moduleChoices : [...form.moduleChoices, ALL_LINEAR];
    const targets = h('vscode-multi-select', {
      id: 'f-targetModules', label: labelOf('targetModules'),
      onchange: (e: Event) => this.dispatch({ type: 'ui/draft', patch: { targetModules: [...((e.currentTarget as unknown as { value: string[] }).value ?? [])] } }),
    }, choices.map((c) => h('vscode-option', { value: c, selected: d.targetModules.includes(c), description: c === ALL_LINEAR ? 'every linear layer in the blocks' : undefined }, c))) as unknown as Control;
    const rslora = h('vscode-checkbox', { label: labelOf('useRslora'), '.checked': d.useRslora, onchange: (e: Event) => this.dispatch({ type: 'ui/draft', patch: { useRslora: (e.currentTarget as unknown as { checked: boolean }).checked } }) });
    const byLength = h('vscode-checkbox', {
      label: labelOf('groupByLength'), '.checked': d.groupByLength,
      onchange: (e: Event) => this.dispatch({ type: 'ui/draft', patch: { groupByLength: (e.currentTarget as unknown as { checked: boolean }).checked } }),
    });
    const epochs = text('epochs');
    const maxSteps = text('maxSteps', 'e.g. 2000');
    this.lengthFields = { epochs, maxSteps };
    epochs.hidden = d.lengthMode !== 'epochs';
    maxSteps.hidden = d.lengthMode !== 'maxSteps';
    const lengthMode = this.field('lengthMode', 'Train for', h('vscode-single-select', { id: 'f-lengthMode', label: 'Train for', onchange: (e: Event) => this.edit('lengthMode', (e.currentTarget as Control).value) },
      h('vscode-option', { value: 'epochs', selected: d.lengthMode === 'epochs' }, 'epochs'),
      h('vscode-option', { value: 'maxSteps', selected: d.lengthMode === 'maxSteps' }, 'max steps')) as Control);
    this.start = h('vscode-button', { onclick: () => this.onStart() }, 'Start training') as HTMLElement & { disabled: boolean };
    this.startHint = h('span', { class: 'hint', 'aria-live': 'polite' });
    this.params = h('div', { class: 'params', 'aria-live': 'polite' });
    setChildren(this.el,
      form.error ? h('div', { class: 'banner error', role: 'alert' }, form.error) : null,
      h('div', { class: 'inputs' },
        h('div', null, h('span', { class: 'hint' }, 'Model '), h('code', null, form.model), h('span', { class: 'hint' }, ` ${spec.architecture}, ${spec.numLayers} layers, hidden ${spec.hiddenSize}`)),
        h('div', null, h('span', { class: 'hint' }, 'Dataset '), h('code', null, form.dataset), h('span', { class: form.datasetSummary.match(/error|invalid|problem/i) ? 'error-text' : 'hint' }, ` ${form.datasetSummary}`)),
        this.pickers()),
      h('div', { class: 'form-grid' },
        h('fieldset', null, h('legend', null, 'LoRA adapter'),
          text('r'), text('alpha'), text('dropout'),
          this.field('targetModules', labelOf('targetModules'), targets, this.targetsHelp), h('div', { class: 'field' }, rslora), text('layers', `0–${spec.numLayers - 1}`)),
        h('fieldset', null, h('legend', null, 'Training'),
          text('learningRate'), select('schedule', SCHEDULES), lengthMode, epochs, maxSteps,
          text('batchSize'), text('gradientAccumulation'), text('maxSeqLen'), h('div', { class: 'field' }, byLength)),
        h('fieldset', null, h('legend', null, 'Cadence and system'),
          text('evalEvery', 'auto'), text('checkpointEvery', 'auto'),
          text('seed'), select('backend', BACKENDS))),
      this.params,
      h('div', { class: 'toolbar actions' }, this.start, this.startHint));
  }

  private field(f: DraftField, label: string, control: Control, help?: HTMLElement): HTMLElement {
    this.controls.set(f, control);
    const err = h('div', { class: 'field-error', id: `f-${f}-error` });
    this.errors.set(f, err);
    return h('div', { class: 'field' }, h('vscode-label', { for: control.id }, label), control,
      help ?? (helpOf(f) ? h('div', { class: 'field-help' }, helpOf(f)) : null), err);
  }

  private edit(f: DraftField, value: string): void {
    this.dispatch({ type: 'ui/draft', patch: { [f]: value } as Partial<FormDraft> });
  }

  private showErrors(v: Validation): void {
    for (const [f, el] of this.errors) {
      const msg = v.errors[f] ?? '';
      setText(el, msg);
      const c = this.controls.get(f);
      if (c) {
        c.invalid = !!msg;
        toggleAttr(c, 'aria-invalid', !!msg);
        if (msg) c.setAttribute('title', msg);
        else c.removeAttribute('title');
      }
    }
  }

  private showParams(form: FormState, d: FormDraft): void {
    if (!this.params) return;
    const p = paramPreview(form.modelSpec, d);
    if (!p) {
      setChildren(this.params, h('p', { class: 'hint' }, 'The parameter count appears once rank, target modules and layers are valid.'));
      return;
    }
    const r = Number(d.r);
    const c = p.counts;
    setChildren(this.params,
      h('div', { class: 'params-total' },
        h('strong', null, `${fmtInt(c.trainable)} trainable`), ` of ${fmtInt(c.total)} parameters (${fmtPercent(c.percent)}%) · `,
        `${fmtInt(c.adaptedModules)} modules adapted · adapter ${(c.adapterBytes / 2 ** 20).toFixed(2)} MiB (float32)`),
      h('table', { class: 'data-table params-table' },
        h('caption', { class: 'visually-hidden' }, 'Trainable parameters per adapted module kind'),
        h('thead', null, h('tr', null, ['Module', 'Count', 'Weight (in × out)', 'LoRA r·(in+out)', 'Instead of in·out', 'Share'].map((t, i) => h('th', { scope: 'col', class: i > 0 ? 'num' : undefined }, t)))),
        h('tbody', null, p.kinds.map((k) => h('tr', null,
          h('td', null, h('code', null, k.kind)),
          h('td', { class: 'num' }, `× ${k.count}`),
          h('td', { class: 'num' }, `${fmtInt(k.inFeatures)} × ${fmtInt(k.outFeatures)}`),
          h('td', { class: 'num' }, `${r}·(${fmtInt(k.inFeatures)}+${fmtInt(k.outFeatures)}) = ${fmtInt(k.lora)}`),
          h('td', { class: 'num' }, fmtInt(k.full)),
          h('td', { class: 'num' }, `${((100 * k.lora) / k.full).toFixed(2)}%`))))),
      h('p', { class: 'hint' }, `PEFT: trainable params: ${fmtInt(c.trainable)} || all params: ${fmtInt(c.total)} || trainable%: ${fmtPercent(c.percent)}`));
  }

  private onStart(): void {
    if (!this.form || !this.draft || this.running) return;
    const v = validateDraft(this.draft, this.form);
    if (!v.config) {
      const first = (Object.keys(v.errors) as DraftField[])[0];
      this.controls.get(first)?.focus();
      return;
    }
    this.post({ type: 'startTraining', config: v.config });
    this.dispatch({ type: 'ui/starting' });
  }
}
