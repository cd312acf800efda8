// The token ids of an evaluation case, as training would have seen the same text: the generation
// prompt (a `prompt` as the prompt of a prompt/completion row — the tokenizer's leading special ids,
// then the text —; `messages` through the model's chat template with its generation prompt), and
// for loss checks the scored sequence with the loss mask training puts on a prompt/completion row
// (EOS appended and scored) or on the conversation's final assistant turn. A case that cannot be
// tokenized (no tokenizer, no chat template, longer than GPT-2's positions) gets a reason instead,
// so only that case errors, not the whole run.
import type { CaseMessage, EvalCase } from '../../../protocol/evalCases';
import { ChatRenderer } from '../../data/chat';
import { leadingSpecialIds, RowEncoder } from '../../data/encode';
import { messageOf } from '../../data/errors';
import type { ChatMessage, Row } from '../../data/rows';
import type { ModelSpec } from '../../hf/config';
import type { LoraTokenizer } from '../../hf/tokenizer';
import { needsLoss, needsOutput } from './expect';

/** The scored sequence of a loss check: weights[t] > 0 where ids[t] is a completion token (predicted from ids[..t]). */
export interface LossSequence {
  ids: number[];
  weights: number[];
  /** Tokens carrying loss. */
  tokens: number;
}

export interface CaseTokens {
  /** Generation prompt (when an output check needs one). */
  prompt?: number[];
  /** Scored completion (when a loss check needs it). */
  loss?: LossSequence;
  /** Why the case cannot run on this model family (then neither part is given). */
  error?: string;
}

/** Tokenizes cases for one base model (its tokenizer and position limit). */
export class CaseTokenizer {
  private readonly prefix: number[];
  private readonly limit: number;
  private chat?: ChatRenderer | string;
  private readonly encoders = new Map<'prompt-completion' | 'messages', RowEncoder>();

  constructor(
    private readonly tokenizer: LoraTokenizer | undefined,
    private readonly modelDir: string,
    private readonly file: string,
    spec: ModelSpec,
  ) {
    this.prefix = tokenizer ? leadingSpecialIds(tokenizer) : [];
    // Only GPT-2 has learned positions that end; rotary models extrapolate (badly, but they run).
    this.limit = spec.family === 'gpt2' ? spec.maxPositions : Number.POSITIVE_INFINITY;
  }

  tokens(c: EvalCase): CaseTokens {
    try {
      const tok = this.tokenizer;
      if (!tok) {
        return { error: `${this.modelDir} has no tokenizer.json, and cases are text: copy tokenizer.json (and tokenizer_config.json) from the model's repository into the folder` };
      }
      const out: CaseTokens = {};
      if (needsOutput(c)) {
        const prompt = c.messages ? tok.encode(this.renderer().render(asChat(c.messages), true), { addSpecialTokens: false }) : [...this.prefix, ...tok.encode(c.prompt ?? '', { addSpecialTokens: false })];
        if (prompt.length === 0) return { error: 'the prompt gives no token; a generation needs at least one' };
        if (prompt.length >= this.limit) {
          return { error: `the prompt is ${prompt.length} tokens; ${this.modelDir} (GPT-2) has ${this.limit} positions (n_positions), leaving no room to generate: shorten the prompt` };
        }
        out.prompt = prompt;
      }
      if (needsLoss(c)) {
        const loss = this.lossSequence(c);
        if (typeof loss === 'string') return { error: loss };
        out.loss = loss;
      }
      return out;
    } catch (e) {
      return { error: messageOf(e) };
    }
  }

  /**
   * The chat template's end-of-turn token (Qwen's <|im_end|>, Llama 3's <|eot_id|>) when it is a
   * special token: training puts loss on it after each reply, so a tuned model ends its turn there,
   * and a `messages` case stops at it as at EOS. Empty without a template.
   */
  turnEndIds(): number[] {
    try {
      const e = this.renderer().encode([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }]);
      let t = e.weights.length - 1;
      while (t > 0 && !(e.weights[t] > 0)) t--;
      const id = e.ids[t];
      return t > 0 && this.tokenizer!.decode([id], { skipSpecialTokens: true }) === '' ? [id] : [];
    } catch {
      return [];
    }
  }

  /** The model's chat template, or (as a thrown Error) why there is none: the message names the tokenizer. */
  private renderer(): ChatRenderer {
    if (this.chat === undefined) {
      try {
        this.chat = new ChatRenderer(this.tokenizer!, this.file);
      } catch (e) {
        this.chat = messageOf(e);
      }
    }
    if (typeof this.chat === 'string') throw new Error(this.chat);
    return this.chat;
  }

  private encoder(format: 'prompt-completion' | 'messages'): RowEncoder {
    let e = this.encoders.get(format);
    if (!e) {
      if (format === 'messages') this.renderer(); // the same error as for the generation prompt
      // max_seq_len only decides what `analyze` reports as kept; the case is scored whole.
      e = new RowEncoder(this.tokenizer, this.file, format, Number.MAX_SAFE_INTEGER);
      this.encoders.set(format, e);
    }
    return e;
  }

  /** `completion` after the prompt, masked as training masks the row; a string says why it cannot be scored. */
  private lossSequence(c: EvalCase): LossSequence | string {
    const completion = c.completion ?? '';
    const row: Row = c.messages
      ? { format: 'messages', messages: [...asChat(c.messages), { role: 'assistant', content: completion }] }
      : { format: 'prompt-completion', prompt: c.prompt ?? '', completion };
    const a = this.encoder(row.format as 'prompt-completion' | 'messages').analyze(row, c.line);
    const weights = row.format === 'messages' ? lastRunOnly(a.weights) : a.weights.slice();
    const tokens = weights.reduce((n, w, t) => n + (t > 0 && w > 0 ? 1 : 0), 0);
    if (tokens === 0) return 'the completion gives no token to score (is it empty?)';
    if (a.ids.length > this.limit) {
      return `the prompt and completion are ${a.ids.length} tokens; ${this.modelDir} (GPT-2) has ${this.limit} positions (n_positions): shorten them to score the completion`;
    }
    return { ids: a.ids, weights, tokens };
  }
}

function asChat(messages: CaseMessage[]): ChatMessage[] {
  return messages.map((m) => ({ ...m }));
}

/**
 * Only the last run of loss-carrying tokens (the appended assistant turn): a conversation's earlier
 * assistant turns are context here, not the completion being scored.
 */
function lastRunOnly(weights: readonly number[]): number[] {
  const out = weights.map(() => 0);
  let t = weights.length - 1;
  while (t > 0 && !(weights[t] > 0)) t--;
  for (; t > 0 && weights[t] > 0; t--) out[t] = weights[t];
  return out;
}
