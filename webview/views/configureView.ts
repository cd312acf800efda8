// The Configure section: the run's form prefilled from FormState, validated as the user types
// (messages next to the fields), with PEFT's trainable-parameter count and the per-module
// r·(in+out) vs in·out arithmetic updated live, and the dataset lint's summary (lintSummary.ts: the
// counts, each file, the first errors as file:line links, Show in Problems panel); the host lints
// again when max_seq_len changes. Start posts startTraining with the config; it is disabled while
// the fields are invalid, a run is in progress or the dataset has lint errors.
import type { DatasetLintState, FormState, FromPanel } from '../../src/protocol/panel';
import { h, onActivate, setChildren, setText, toggleAttr } from '../dom';
import { fmtInt, fmtPercent } from '../format';
import { ALL_LINEAR, BACKENDS, SCHEDULES, initOptions, formField, paramPreview, validateDraft, type DraftField, type FormDraft, type Validation } from '../formModel';
import { formHelp } from '../../src/protocol/runConfig';
import { draftMaxSeqLen, lintBlocksStart, lintSummaryView } from '../lintSummary';
import type { Action, State } from '../store';

type Control = HTMLElement & { value: string; invalid?: boolean; disabled?: boolean };

/** max_seq_len typed: the host lints again after the typing stops (it debounces too). */
const LINT_AFTER_TYPING_MS = 400;

/** A link-styled control that posts to the host (no href: the webview would navigate or scroll). */
function actionLink(text: string, cls: string, title: string, f: () => void): HTMLElement {
  const a = h('a', { class: `link ${cls}`, role: 'link', tabindex: '0', title }, text);
  onActivate(a, (ev) => {
    ev.preventDefault();
    f();
  });
  return a;
}

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
  /** The dataset lint shown, and the form's own dataset summary (shown until the lint's is in). */
  private lintBox?: HTMLElement;
  private datasetNote?: HTMLElement;
  private lint?: DatasetLintState;
  /** The max_seq_len the host lints with, and the timer of the next one to send. */
  private lintMaxSeqLen?: number;
  private lintTimer?: ReturnType<typeof setTimeout>;

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
      this.lint = undefined;
      clearTimeout(this.lintTimer);
      if (s.form && s.draft) {
        this.build(s.form, s.draft);
        this.lintMaxSeqLen = draftMaxSeqLen(s.draft, s.form);
      } else this.renderWaiting();
    }
    if (!this.form || !s.draft) return;
    if (s.lint !== this.lint) {
      this.lint = s.lint;
      this.showLint(this.form);
    }
    if (s.draft !== this.draft) {
      this.draft = s.draft;
      this.relintOnMaxSeqLen(this.form, s.draft);
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
      const lintBlock = lintBlocksStart(s.lint, this.form.dataset);
      this.start.disabled = invalid || this.running || !!lintBlock;
      const why = this.running ? 'A run is in progress: cancel it or wait for it to finish.' : invalid ? 'Fix the fields marked in red to start.' : (lintBlock ?? '');
      setText(this.startHint!, why);
      if (why) this.start.setAttribute('title', why);
      else this.start.removeAttribute('title');
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
    /** A module name of this architecture for the pattern boxes' placeholders. */
    const example = form.defaultTargets[0] ?? form.moduleChoices.find((c) => c !== ALL_LINEAR) ?? 'q_proj';
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
    /** A checkbox row with its one-line help from the table. */
    const check = (f: 'useRslora' | 'useDora' | 'groupByLength' | 'baseDropout', withHelp = true) => h('div', { class: 'field' },
      h('vscode-checkbox', { id: `f-${f}`, label: labelOf(f), '.checked': d[f], onchange: (e: Event) => this.dispatch({ type: 'ui/draft', patch: { [f]: (e.currentTarget as unknown as { checked: boolean }).checked } }) }),
      withHelp && helpOf(f) ? h('div', { class: 'field-help' }, helpOf(f)) : null);
    const epochs = text('epochs');
    const maxSteps = text('maxSteps', 'e.g. 2000');
    this.lengthFields = { epochs, maxSteps };
    epochs.hidden = d.lengthMode !== 'epochs';
    maxSteps.hidden = d.lengthMode !== 'maxSteps';
    const lengthMode = this.field('lengthMode', 'Train for', h('vscode-single-select', { id: 'f-lengthMode', label: 'Train for', onchange: (e: Event) => this.edit('lengthMode', (e.currentTarget as Control).value) },
      h('vscode-option', { value: 'epochs', selected: d.lengthMode === 'epochs' }, 'epochs'),
      h('vscode-option', { value: 'maxSteps', selected: d.lengthMode === 'maxSteps' }, 'max steps')) as Control);
    this.start = h('vscode-button', { id: 'start-training', onclick: () => this.onStart() }, 'Start training') as HTMLElement & { disabled: boolean };
    this.startHint = h('span', { class: 'hint', 'aria-live': 'polite' });
    this.params = h('div', { class: 'params', 'aria-live': 'polite' });
    setChildren(this.el,
      form.error ? h('div', { class: 'banner error', role: 'alert' }, form.error) : null,
      h('div', { class: 'inputs' },
        h('div', null, h('span', { class: 'hint' }, 'Model '), h('code', null, form.model), h('span', { class: 'hint' }, ` ${spec.architecture}, ${spec.numLayers} layers, hidden ${spec.hiddenSize}`)),
        h('div', null, h('span', { class: 'hint' }, 'Dataset '), h('code', null, form.dataset),
          (this.datasetNote = h('span', { class: form.datasetSummary.match(/error|invalid|problem/i) ? 'error-text' : 'hint' }, ` ${form.datasetSummary}`))),
        (this.lintBox = h('div', { class: 'dataset-lint', 'aria-label': 'Dataset lint', 'aria-live': 'polite', hidden: true })),
        this.pickers()),
      h('div', { class: 'form-grid' },
        h('fieldset', null, h('legend', null, 'LoRA adapter'),
          text('r'), text('alpha'), text('dropout'),
          this.field('targetModules', labelOf('targetModules'), targets, this.targetsHelp),
          check('useRslora'), check('useDora'),
          select('init', initOptions(d.init)), text('layers', `0–${spec.numLayers - 1}`),
          text('rankPattern', `e.g. ${example}=16`), text('alphaPattern', `e.g. ${example}=32`)),
        h('fieldset', null, h('legend', null, 'Training'),
          text('learningRate'), text('loraplusLrRatio', 'e.g. 16'), select('schedule', SCHEDULES), lengthMode, epochs, maxSteps,
          text('batchSize'), text('gradientAccumulation'), text('maxSeqLen'), check('groupByLength', false), check('baseDropout')),
        h('fieldset', null, h('legend', null, 'Cadence and system'),
          text('evalEvery', 'auto'), text('checkpointEvery', 'auto'),
          text('seed'), select('backend', BACKENDS))),
      this.params,
      h('div', { class: 'toolbar actions' }, this.start, this.startHint));
  }

  /** The lint summary of the form's dataset; the form's own one-line summary until it is in. */
  private showLint(form: FormState): void {
    const box = this.lintBox;
    if (!box) return;
    const v = lintSummaryView(this.lint, form.dataset);
    if (this.datasetNote) this.datasetNote.hidden = !!v?.counts;
    box.hidden = !v;
    if (!v) return setChildren(box);
    const problems = v.errors + v.warnings > 0;
    setChildren(box,
      h('div', { class: 'lint-head' },
        h('span', { class: 'hint' }, 'Dataset lint: '),
        v.counts ? h('span', { class: 'lint-counts' }, v.counts.split(' · ').map((part, i) => [
          i ? ' · ' : null,
          h('span', { class: /^[1-9][\d,]* error/.test(part) ? 'error-text' : /^[1-9][\d,]* warning/.test(part) ? 'warning-text' : undefined }, part)])) : null,
        v.status === 'checking' ? h('span', { class: 'hint lint-checking' }, v.counts ? ' · checking again…' : 'checking…') : null,
        problems ? [' · ', actionLink('Show in Problems panel', 'lint-problems', 'Open the Problems panel with every diagnostic of the dataset', () => this.post({ type: 'showProblems' }))] : null),
      v.files.length ? h('ul', { class: 'lint-files' }, v.files.map((f) => h('li', null,
        h('span', { class: 'hint' }, f.role === 'validation' ? 'Validation file ' : 'Training file'),
        f.role === 'validation' ? h('code', null, f.path) : null,
        h('span', { class: 'hint' }, ': '), f.text))) : null,
      v.links.length ? h('ul', { class: 'lint-errors' }, v.links.map((l) => h('li', { class: 'error-text' },
        actionLink(l.text, 'lint-location', `Open ${l.text}`, () => this.post({ type: 'openLocation', file: l.file, line: l.line })), ' ', l.message))) : null,
      v.moreErrors ? h('div', { class: 'hint' }, `… and ${v.moreErrors.toLocaleString('en-US')} more in the Problems panel`) : null,
      v.notes.map((n) => h('div', { class: v.status === 'failed' ? 'warning-text' : 'hint' }, n)));
  }

  /** A new valid max_seq_len: the host lints with it once the typing stops (truncation and loss checks depend on it). */
  private relintOnMaxSeqLen(form: FormState, d: FormDraft): void {
    const n = draftMaxSeqLen(d, form);
    if (n === undefined || n === this.lintMaxSeqLen) return;
    this.lintMaxSeqLen = n;
    clearTimeout(this.lintTimer);
    this.lintTimer = setTimeout(() => this.post({ type: 'lintDataset', maxSeqLen: n }), LINT_AFTER_TYPING_MS);
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
      setChildren(this.params, h('p', { class: 'hint' }, 'The parameter count appears once rank, target modules, layers and rank pattern are valid.'));
      return;
    }
    const c = p.counts;
    setChildren(this.params,
      h('div', { class: 'params-total' },
        h('strong', null, `${fmtInt(c.trainable)} trainable`), ` of ${fmtInt(c.total)} parameters (${fmtPercent(c.percent)}%) · `,
        `${fmtInt(c.adaptedModules)} modules adapted · adapter ${(c.adapterBytes / 2 ** 20).toFixed(2)} MiB (float32)`),
      h('table', { class: 'data-table params-table' },
        h('caption', { class: 'visually-hidden' }, 'Trainable parameters per adapted module kind'),
        h('thead', null, h('tr', null, ['Module', 'Count', 'Weight (in × out)', p.kinds.some((k) => k.dora) ? 'LoRA r·(in+out) + DoRA out' : 'LoRA r·(in+out)', 'Instead of in·out', 'Share'].map((t, i) => h('th', { scope: 'col', class: i > 0 ? 'num' : undefined }, t)))),
        h('tbody', null, p.kinds.map((k) => h('tr', null,
          h('td', null, h('code', null, k.kind)),
          h('td', { class: 'num' }, `× ${k.count}`),
          h('td', { class: 'num' }, `${fmtInt(k.inFeatures)} × ${fmtInt(k.outFeatures)}`),
          h('td', { class: 'num' }, `${k.r}·(${fmtInt(k.inFeatures)}+${fmtInt(k.outFeatures)})${k.dora ? ` + ${fmtInt(k.outFeatures)}` : ''} = ${fmtInt(k.lora)}`),
          h('td', { class: 'num' }, fmtInt(k.full)),
          h('td', { class: 'num' }, `${((100 * k.lora) / k.full).toFixed(2)}%`))))),
      h('p', { class: 'hint' }, `PEFT: trainable params: ${fmtInt(c.trainable)} || all params: ${fmtInt(c.total)} || trainable%: ${fmtPercent(c.percent)}`));
  }

  private onStart(): void {
    if (!this.form || !this.draft || this.running || lintBlocksStart(this.lint, this.form.dataset)) return;
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
