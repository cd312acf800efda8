// Generations of an evaluation report, side by side: per prompt one column per model (base,
// adapter, merged) and one row per decoding (greedy, sampled), with the reference continuation.
// Reads eval.json's shape ({prompt: {text, ids}, reference, outputs: {base: {greedy: {text, ids,
// stop, ms}}}}) and a flat one ({prompt: '…', base: {greedy: '…'}}).
import { h } from '../dom';
import { fmtInt, fmtValue } from '../format';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const MODEL_ORDER = ['base', 'adapter', 'merged'];
const rank = (k: string) => (MODEL_ORDER.includes(k) ? MODEL_ORDER.indexOf(k) : MODEL_ORDER.length);

/** The text of a prompt or output: a string, {text}, or token ids when there was no tokenizer. */
export function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (isObj(v)) {
    if (typeof v.text === 'string') return v.text;
    if (Array.isArray(v.ids)) return `[${v.ids.length} token ids: ${v.ids.slice(0, 16).join(' ')}${v.ids.length > 16 ? ' …' : ''}]`;
  }
  return fmtValue(v);
}

/** "stopped at eos · 412 ms" from an output's stop reason and time, when present. */
function metaOf(v: unknown): string | undefined {
  if (!isObj(v)) return undefined;
  const parts: string[] = [];
  if (typeof v.stop === 'string') parts.push(`stop: ${v.stop}`);
  if (Array.isArray(v.ids)) parts.push(`${fmtInt(v.ids.length)} tokens`);
  if (typeof v.ms === 'number') parts.push(`${fmtInt(v.ms)} ms`);
  return parts.length ? parts.join(' · ') : undefined;
}

function cell(v: unknown): HTMLElement {
  const meta = metaOf(v);
  return h('td', null, h('pre', null, v === undefined ? '–' : textOf(v)), meta ? h('div', { class: 'field-help' }, meta) : null);
}

export function generationsSection(list: unknown[]): HTMLElement {
  const items = list.filter(isObj);
  return h('div', { class: 'generations' },
    h('h3', null, 'Generations'),
    items.length === 0 ? h('p', { class: 'empty' }, 'No generations in this report.') : null,
    items.map((g, i) => {
      const outputs = isObj(g.outputs) ? g.outputs : Object.fromEntries(Object.entries(g).filter(([k]) => k !== 'prompt' && k !== 'reference'));
      const models = Object.entries(outputs).sort((a, b) => rank(a[0]) - rank(b[0]));
      const modes = [...new Set(models.flatMap(([, v]) => (isObj(v) && !('text' in v) && !('ids' in v) ? Object.keys(v) : ['output'])))];
      const valueAt = (v: unknown, mode: string) => (isObj(v) && !('text' in v) && !('ids' in v) ? v[mode] : mode === 'output' ? v : undefined);
      return h('div', { class: 'generation' },
        h('div', { class: 'prompt' }, h('span', { class: 'hint' }, `Prompt ${i + 1}`), h('pre', null, textOf(g.prompt))),
        g.reference !== undefined ? h('div', { class: 'prompt' }, h('span', { class: 'hint' }, 'Reference'), h('pre', null, textOf(g.reference))) : null,
        h('table', { class: 'data-table side-by-side' },
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Decoding')), models.map(([k]) => h('th', { scope: 'col' }, k)))),
          h('tbody', null, modes.map((mode) => h('tr', null, h('th', { scope: 'row' }, mode), models.map(([, v]) => cell(valueAt(v, mode))))))));
    }));
}
