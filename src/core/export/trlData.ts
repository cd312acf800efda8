// A run's examples as TRL reads pre-tokenized data: one JSON line per example with `input_ids`
// and `labels` (the id where LoRA Lab's loss weight is positive, -100 where it is 0: Hugging Face's
// ignore index, shifted inside the model exactly as LoRA Lab's weights are), plus the example's
// line in its source file for provenance. Exactly LoRA Lab's tokens and loss mask, so the two
// engines cannot disagree about rendering, chat templates or truncation.
import { createHash } from 'node:crypto';
import type { Example } from '../data';

/** Hugging Face's ignore index for labels. */
export const IGNORE_INDEX = -100;

export interface TrlRow {
  input_ids: number[];
  labels: number[];
  /** 1-based line of the example in its source file. */
  line: number;
}

/**
 * The example as a TRL row. LoRA Lab's weights[t] is the weight of predicting ids[t] (weights[0]
 * is 0), which is HF's labels[t] convention; weights are 0 or 1 (any other weight cannot be
 * written as labels, and the error says so).
 */
export function trlRow(ex: Pick<Example, 'ids' | 'weights' | 'line'>): TrlRow {
  if (ex.ids.length !== ex.weights.length) throw new Error(`example at line ${ex.line}: ${ex.ids.length} ids but ${ex.weights.length} weights`);
  const labels = ex.ids.map((id, t) => {
    const w = ex.weights[t];
    if (w !== 0 && w !== 1) throw new Error(`example at line ${ex.line}: loss weight ${w} at token ${t}; TRL labels carry only 0/1 weights`);
    return w === 0 ? IGNORE_INDEX : id;
  });
  return { input_ids: ex.ids.slice(), labels, line: ex.line };
}

/** JSON Lines text of the examples, one row each, in the given order. */
export function trlJsonl(examples: readonly Pick<Example, 'ids' | 'weights' | 'line'>[]): string {
  return examples.map((ex) => `${JSON.stringify(trlRow(ex))}\n`).join('');
}

export function sha256Text(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Tokens that carry loss, as LoRA Lab counts them (weights > 0, first position excluded). */
export function lossTokens(examples: readonly Pick<Example, 'weights'>[]): number {
  let n = 0;
  for (const ex of examples) for (let t = 1; t < ex.weights.length; t++) if (ex.weights[t] > 0) n++;
  return n;
}
