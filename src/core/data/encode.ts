// Rows → examples: token ids and loss weights for each row format, then truncation to max_seq_len.
import type { LoraTokenizer } from '../hf/tokenizer';
import { ChatRenderer, type Encoded } from './chat';
import { DatasetError, RowError } from './errors';
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

/** Turns validated rows of one file into examples. */
export class RowEncoder {
  private readonly prefix: number[];
  private readonly eos?: number;
  private readonly chat?: ChatRenderer;

  constructor(
    private readonly tokenizer: LoraTokenizer | undefined,
    file: string,
    format: RowFormat,
    private readonly maxSeqLen: number,
  ) {
    if (format !== 'input-ids' && tokenizer === undefined) throw missingTokenizerError(file, format);
    this.prefix = tokenizer ? leadingSpecialIds(tokenizer) : [];
    this.eos = tokenizer?.special.eos?.id;
    if (format === 'messages' && tokenizer) this.chat = new ChatRenderer(tokenizer, file);
  }

  /** The row's example, truncated to max_seq_len; RowError when it ends up with nothing to learn. */
  encode(row: Row, line: number): Example {
    const { ids, weights } = this.untruncated(row);
    const truncated = ids.length > this.maxSeqLen;
    if (truncated) {
      ids.length = this.maxSeqLen;
      weights.length = this.maxSeqLen;
    }
    if (ids.length < 2) {
      throw new RowError(`${ids.length} token${ids.length === 1 ? '' : 's'} after tokenizing; an example needs at least 2 (each token is predicted from the ones before it)`);
    }
    if (!weights.some((w, t) => t > 0 && w > 0)) {
      const why = truncated
        ? `after cutting to max_seq_len = ${this.maxSeqLen} tokens no token that carries loss is left (the prompt or the turns before the first assistant reply fill it). Raise max_seq_len or shorten the prompt`
        : 'no token carries loss';
      throw new RowError(why);
    }
    return { ids, weights, line, truncated };
  }

  private untruncated(row: Row): Encoded {
    switch (row.format) {
      case 'input-ids': {
        const weights = row.ids.map(() => 1);
        weights[0] = 0;
        return { ids: row.ids.slice(), weights };
      }
      case 'text':
        return this.segments([[row.text, 1]]);
      case 'prompt-completion':
        return this.segments([
          [row.prompt, 0],
          [row.completion, 1],
        ]);
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
   * on past the end of every answer).
   */
  private segments(parts: Array<[text: string, weight: number]>): Encoded {
    const tok = this.tokenizer!;
    const ids = [...this.prefix];
    const weights = ids.map(() => 0);
    for (const [text, weight] of parts) {
      if (text === '') continue;
      for (const id of tok.encode(text, { addSpecialTokens: false })) {
        ids.push(id);
        weights.push(weight);
      }
    }
    if (this.eos !== undefined) {
      ids.push(this.eos);
      weights.push(parts[parts.length - 1][1]);
    }
    if (weights.length > 0) weights[0] = 0;
    return { ids, weights };
  }
}
