// The model's vocabulary as dataset rows are checked against it: the number of token embeddings
// (config.json's vocab_size) and where that number is written, so that an id outside it is
// reported with the bound and its source.
import type { CheckOptions } from './types';

export interface Vocabulary {
  size: number;
  /** E.g. "vocab_size in /m/config.json"; "the model's vocab_size" when not given. */
  source?: string;
}

/** The vocabulary of a check's options, when it has one. */
export function vocabularyOf(opts: CheckOptions): Vocabulary | undefined {
  return opts.vocabSize === undefined ? undefined : { size: opts.vocabSize, source: opts.vocabSource };
}

/** "0…95, vocab_size in /m/config.json": the valid ids and where their bound comes from. */
export function vocabRange(vocab: Vocabulary): string {
  return `0…${vocab.size - 1}, ${vocab.source ?? "the model's vocab_size"}`;
}
