// Rows → examples: token ids and loss weights for each row format, then truncation to max_seq_len.
import type { LoraTokenizer } from '../hf/tokenizer';
import { encodeBounded, keepsPrefixes } from './boundedEncode';
import { ChatRenderer, type Encoded } from './chat';
import { DatasetError, RowError } from './errors';
import { vocabRange, type Vocabulary } from './vocabulary';

export type { Vocabulary } from './vocabulary';
import type { Row, RowFormat } from './rows';
import type { Example } from './types';

/**
 * The ids the tokenizer puts before a text when asked to add special tokens (BOS for Llama,
 * nothing for GPT-2 or Qwen), found by encoding one word both ways. Only this prefix is used:
 * an EOS the post-processor might add at the end would land between prompt and completion, so
 * EOS is appended by the encoder instead.
 */
export function leadingSpecialIds(tokenizer: LoraTokenizer): number[] {
  const plain = tokenizer.encode('a', { addSpecialTokens: false });
  const framed = tokenizer.encode('a', { addSpecialTokens: true });
  for (let j = 0; j + plain.length <= framed.length; j++) {
    if (plain.every((id, k) => framed[j + k] === id)) return framed.slice(0, j);
  }
  return [];
}

/** What a format that needs the model's tokenizer says when there is none. */
export function missingTokenizerError(file: string, format: string): DatasetError {
  return new DatasetError(
    file,
    `${file} is in the ${format} format, which needs the model's tokenizer, but the model folder has no tokenizer.json. Copy tokenizer.json (and tokenizer_config.json) from the model's repository into the folder, or pre-tokenize the data as {"input_ids": [...]} rows.`,
  );
}

/** A row's ids before truncation, and for prompt/completion rows the prompt's length in tokens (`cut`: the prompt is longer than the part tokenized). */
type Untruncated = Encoded & { prompt?: { tokens: number; cut: boolean } };

/** A row whole (see RowEncoder.analyze). */
export interface RowAnalysis {
  /** Ids and loss weights before truncation. */
  ids: number[];
  weights: number[];
  /** Tokens before truncation, and those max_seq_len keeps. */
  total: number;
  kept: number;
  /** Tokens carrying loss before truncation, and among the kept ones. */
  lossTotal: number;
  lossKept: number;
  /** What training refuses the row for (no loss token left, under 2 tokens). */
  problem?: string;
  /** The chat template's text, for messages rows. */
  rendered?: string;
}

/** Turns validated rows of one file into examples. */
export class RowEncoder {
  private readonly prefix: number[];
  private readonly eos?: number;
  private readonly chat?: ChatRenderer;
  /** Whether long texts may be tokenized only up to a clean cut (see boundedEncode.ts). */
  private readonly cuts: boolean;

  constructor(
    private readonly tokenizer: LoraTokenizer | undefined,
    private readonly file: string,
    format: RowFormat,
    private readonly maxSeqLen: number,
    private readonly vocab?: Vocabulary,
  ) {
    if (format !== 'input-ids' && tokenizer === undefined) throw missingTokenizerError(file, format);
    this.prefix = tokenizer ? leadingSpecialIds(tokenizer) : [];
    this.eos = tokenizer?.special.eos?.id;
    if (format === 'messages' && tokenizer) this.chat = new ChatRenderer(tokenizer, file);
    this.cuts = (format === 'text' || format === 'prompt-completion') && tokenizer !== undefined && keepsPrefixes(tokenizer);
  }

  /** The row's example, truncated to max_seq_len; RowError when it ends up with nothing to learn. */
  encode(row: Row, line: number): Example {
    const { ids, weights, prompt } = this.untruncated(row);
    const truncated = ids.length > this.maxSeqLen;
    if (truncated) {
      ids.length = this.maxSeqLen;
      weights.length = this.maxSeqLen;
    }
    if (row.format !== 'input-ids') this.checkVocabulary(ids, line);
    if (ids.length < 2) {
      throw new RowError(`${ids.length} token${ids.length === 1 ? '' : 's'} after tokenizing; an example needs at least 2 (each token is predicted from the ones before it)`);
    }
    if (!weights.some((w, t) => t > 0 && w > 0)) throw new RowError(this.nothingToLearn(truncated, prompt));
    return { ids, weights, line, truncated };
  }

  /**
   * The row whole, as the lint and the hover show it: every token before truncation (no bounded
   * cut), how many max_seq_len keeps, the loss tokens of each, the chat template's text, and the
   * problem `encode` would throw for it (the row is then refused by training). Throws what
   * `encode` throws for the model folder (a tokenizer larger than the model's vocabulary).
   */
  analyze(row: Row, line: number): RowAnalysis {
    const { ids, weights, prompt } = this.untruncated(row, false);
    const kept = Math.min(ids.length, this.maxSeqLen);
    if (row.format !== 'input-ids') this.checkVocabulary(ids.slice(0, kept), line);
    let lossTotal = 0;
    let lossKept = 0;
    for (let t = 1; t < weights.length; t++) {
      if (weights[t] <= 0) continue;
      lossTotal++;
      if (t < kept) lossKept++;
    }
    let problem: string | undefined;
    if (kept < 2) problem = `${kept} token${kept === 1 ? '' : 's'} after tokenizing; an example needs at least 2 (each token is predicted from the ones before it)`;
    else if (lossKept === 0) problem = this.nothingToLearn(ids.length > kept, prompt);
    const rendered = row.format === 'messages' ? this.chat!.render(row.messages, false) : undefined;
    return { ids, weights, total: ids.length, kept, lossTotal, lossKept, problem, rendered };
  }

  /** Why a row has no token with loss left. */
  private nothingToLearn(truncated: boolean, prompt: Untruncated['prompt']): string {
    if (!truncated) return 'no token carries loss';
    const raise = 'Raise max_seq_len (--max-seq-len) or shorten the prompt';
    if (prompt) {
      const size = prompt.cut ? `more than ${prompt.tokens} tokens` : `${prompt.tokens} tokens`;
      return `the completion is cut entirely by max_seq_len = ${this.maxSeqLen}: the prompt is ${size}${this.prefix.length ? ` (with ${this.prefix.length} leading special token${this.prefix.length === 1 ? '' : 's'})` : ''}, so the row trains on nothing. ${raise}`;
    }
    return `after cutting to max_seq_len = ${this.maxSeqLen} tokens no token that carries loss is left (the turns before the first assistant reply fill it), so the row trains on nothing. ${raise}`;
  }

  /**
   * Ids the tokenizer gives must have a row in the model's embedding: a tokenizer.json from another
   * (larger) model would otherwise fail in the pre-flight with no file or line. Refuses the dataset
   * (not the row: the model folder is at fault) naming the row, both files and what to do.
   */
  private checkVocabulary(ids: number[], line: number): void {
    const vocab = this.vocab;
    if (!vocab || !this.tokenizer) return;
    const bad = ids.findIndex((id) => id >= vocab.size);
    if (bad < 0) return;
    const id = ids[bad];
    let piece = '';
    try {
      piece = ` (${JSON.stringify(this.tokenizer.decode([id]))})`;
    } catch {
      // an id the tokenizer cannot decode either: the number says enough
    }
    throw new DatasetError(
      this.file,
      `${this.file}:${line}: the tokenizer ${this.tokenizer.source} gives token id ${id}${piece}, outside the model's vocabulary (${vocabRange(vocab)}). That tokenizer (${this.tokenizer.vocabSize} ids) is not this model's: use the tokenizer.json that came with the model, or a model whose vocab_size covers it.`,
    );
  }

  private untruncated(row: Row, bounded = true): Untruncated {
    switch (row.format) {
      case 'input-ids': {
        const weights = row.ids.map(() => 1);
        weights[0] = 0;
        return { ids: row.ids.slice(), weights };
      }
      case 'text':
        return this.segments([[row.text, 1]], bounded);
      case 'prompt-completion': {
        const out = this.segments(
          [
            [row.prompt, 0],
            [row.completion, 1],
          ],
          bounded,
        );
        return { ...out, prompt: out.lengths[0] };
      }
      case 'messages':
        // Checked in the constructor: messages rows always have a renderer.
        return this.chat!.encode(row.messages);
    }
  }

  /**
   * Prompt and completion are tokenized separately (so the loss boundary is a token boundary;
   * put the separating space or newline where inference will have it), the first segment after
   * the tokenizer's leading special ids. EOS is appended to the last segment, with its weight,
   * so the model learns to stop after a text or a completion (without it, generation would run
   * on past the end of every answer). A segment is tokenized only as far as max_seq_len can keep
   * (encodeBounded: the same first ids as the whole text); one after a full example, not at all.
   * `lengths` gives each segment's tokens and whether it was cut.
   */
  private segments(parts: Array<[text: string, weight: number]>, bounded = true): Encoded & { lengths: { tokens: number; cut: boolean }[] } {
    const tok = this.tokenizer!;
    const ids = [...this.prefix];
    const weights = ids.map(() => 0);
    const lengths: { tokens: number; cut: boolean }[] = [];
    for (const [text, weight] of parts) {
      // One token past max_seq_len: enough to know the example is cut.
      const need = bounded ? this.maxSeqLen + 1 - ids.length : Number.POSITIVE_INFINITY;
      if (need <= 0) {
        lengths.push({ tokens: 0, cut: true });
        continue;
      }
      const { ids: part, whole } = text === '' ? { ids: [], whole: true } : encodeBounded(tok, text, need, this.cuts && bounded);
      lengths.push({ tokens: part.length, cut: !whole });
      for (const id of part) {
        ids.push(id);
        weights.push(weight);
      }
    }
    if (this.eos !== undefined) {
      ids.push(this.eos);
      weights.push(parts[parts.length - 1][1]);
    }
    if (weights.length > 0) weights[0] = 0;
    return { ids, weights, lengths };
  }
}
