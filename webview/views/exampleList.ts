// A list of examples (one step's, or one of the Examples view's): each row its `file:line` link
// (opens the row in the editor through the host), its loss (and for "went up", the first epoch's),
// the first characters of its row; optionally a checkbox per row for "Exclude these rows…".
import type { ExampleItem, WentUpItem } from '../../src/protocol/examples';
import { h, onActivate } from '../dom';
import { fmtInt, fmtLoss } from '../format';
import { exampleWhere } from '../stepExamples';

export interface ExampleListOptions {
  caption: string;
  items: readonly (ExampleItem | WentUpItem)[];
  /** Opens an example in the editor. */
  open(item: ExampleItem): void;
  /** Checked lines (a checkbox per row); absent: no checkboxes. */
  checked?: Set<number>;
  onCheck?(): void;
  /** Show the step column (the Examples view's lists; a step's own list does not need it). */
  showStep?: boolean;
  /** Empty list text. */
  empty: string;
}

function isWentUp(x: ExampleItem | WentUpItem): x is WentUpItem {
  return 'firstLoss' in x;
}

/** A table of examples (class `example-list`; each link `a.example-link` with `data-line`). */
export function exampleList(o: ExampleListOptions): HTMLElement {
  if (o.items.length === 0) return h('p', { class: 'empty' }, o.empty);
  const wentUp = o.items.some(isWentUp);
  const head = [o.checked ? '' : null, 'Example', wentUp ? 'First epoch' : null, 'Loss', o.showStep ? 'Step' : null, 'Row'].filter((x): x is string => x !== null);
  const rows = o.items.map((e) => {
    const where = exampleWhere(e.file, e.line);
    const link = h('a', { class: 'link example-link', role: 'link', tabindex: '0', title: `Open ${e.file} at line ${e.line}`, 'data-line': String(e.line) }, where);
    onActivate(link, (ev) => {
      ev.preventDefault();
      o.open(e);
    });
    const box = o.checked
      ? h('input', {
          type: 'checkbox', class: 'example-check', 'aria-label': `Select ${where}`, '.checked': o.checked.has(e.line),
          onchange: (ev: Event) => {
            if ((ev.target as HTMLInputElement).checked) o.checked!.add(e.line);
            else o.checked!.delete(e.line);
            o.onCheck?.();
          },
        })
      : null;
    return h('tr', null,
      box ? h('td', null, box) : null,
      h('td', null, link),
      isWentUp(e) ? h('td', { class: 'num', title: `step ${e.firstStep}` }, fmtLoss(e.firstLoss)) : wentUp ? h('td') : null,
      h('td', { class: 'num' }, e.loss === null ? '–' : fmtLoss(e.loss)),
      o.showStep ? h('td', { class: 'num' }, fmtInt(e.step)) : null,
      h('td', { class: 'example-text', title: e.text ?? '' }, e.text ?? '(line not found)'));
  });
  return h('table', { class: 'data-table example-list' },
    h('caption', null, o.caption),
    h('thead', null, h('tr', null, head.map((t, i) => h('th', { scope: 'col', class: t === 'Loss' || t === 'Step' || t === 'First epoch' ? 'num' : undefined, 'aria-label': i === 0 && t === '' ? 'Selected' : undefined }, t)))),
    h('tbody', null, rows));
}
