// Generations of an evaluation report, side by side: per prompt one column per model (base,
// adapter, merged) and one row per decoding (greedy, sampled), with the reference continuation.
import { MODEL_ROLES, type GenerationEntry, type GenerationOut, type TokensText } from '../../src/protocol/evaluation';
import { h } from '../dom';
import { fmtInt } from '../format';

const DECODINGS = ['greedy', 'sampled'] as const;

/** The text of a prompt or output, or its token ids when the model folder had no tokenizer. */
export function textOf(v: TokensText): string {
  if (v.text !== undefined) return v.text;
  return `[${v.ids.length} token ids: ${v.ids.slice(0, 16).join(' ')}${v.ids.length > 16 ? ' …' : ''}]`;
}

/** "stop: eos · 12 tokens · 412 ms". */
function metaOf(v: GenerationOut): string {
  return [`stop: ${v.stop}`, `${fmtInt(v.ids.length)} tokens`, `${fmtInt(v.ms)} ms`].join(' · ');
}

function cell(v: GenerationOut | undefined): HTMLElement {
  return h('td', null, h('pre', null, v === undefined ? '–' : textOf(v)), v ? h('div', { class: 'field-help' }, metaOf(v)) : null);
}

export function generationsSection(items: readonly GenerationEntry[]): HTMLElement {
  return h('div', { class: 'generations' },
    h('h3', null, 'Generations'),
    items.length === 0 ? h('p', { class: 'empty' }, 'No generations in this report.') : null,
    items.map((g, i) => {
      const models = MODEL_ROLES.flatMap((role) => {
        const pair = g.outputs[role];
        return pair ? [{ role, pair }] : [];
      });
      return h('div', { class: 'generation' },
        h('div', { class: 'prompt' }, h('span', { class: 'hint' }, `Prompt ${i + 1}`), h('pre', null, textOf(g.prompt))),
        h('div', { class: 'prompt' }, h('span', { class: 'hint' }, 'Reference'), h('pre', null, textOf(g.reference))),
        h('table', { class: 'data-table side-by-side' },
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Decoding')), models.map((m) => h('th', { scope: 'col' }, m.role)))),
          h('tbody', null, DECODINGS.map((mode) => h('tr', null, h('th', { scope: 'row' }, mode), models.map((m) => cell(m.pair[mode])))))));
    }));
}
