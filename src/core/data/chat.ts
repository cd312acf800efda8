// Chat conversations → token ids with loss on the assistant turns only. The model's own
// chat_template (Jinja, run by @huggingface/jinja with Python's string methods, see
// jinjaStrings.ts) renders the text as transformers' apply_chat_template does; the assistant
// turns are located by rendering prefixes of the conversation, and each segment is tokenized on
// its own. test/unit/chatTemplateGolden.test.ts checks text, ids and weights against
// scripts/gen_chat_golden.py (transformers) for real templates.
import { Template } from '@huggingface/jinja';
import type { LoraTokenizer } from '../hf/tokenizer';
import { DatasetError, messageOf, RowError } from './errors';
import { installPythonStrings } from './jinjaStrings';
import type { ChatMessage } from './rows';

export interface Encoded {
  ids: number[];
  weights: number[];
}

/**
 * Renders conversations with a tokenizer's chat template, with the variables transformers'
 * apply_chat_template passes: messages, add_generation_prompt, the special tokens the tokenizer
 * defines, and tools/documents as none. Template-specific switches such as Qwen3's
 * enable_thinking are left undefined, so each template uses its own default.
 * (raise_exception and strftime_now are built into @huggingface/jinja.)
 */
export class ChatRenderer {
  private readonly template: Template;
  private readonly variables: Record<string, unknown>;
  /** Whether the template was seen to honour add_generation_prompt (checked on the first conversation). */
  private generationPromptChecked = false;

  constructor(
    private readonly tokenizer: LoraTokenizer,
    private readonly file: string,
  ) {
    const source = tokenizer.chatTemplate;
    if (source === undefined) {
      throw new DatasetError(
        file,
        `${file} holds chat "messages", which are rendered with the model's chat template, but the tokenizer (${tokenizer.source}) has none: there is no chat_template in tokenizer_config.json (nor a chat_template.jinja) next to it. Write the data as {"prompt", "completion"} rows instead, or use the instruct/chat version of the model, which ships a template.`,
      );
    }
    installPythonStrings();
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new DatasetError(
        file,
        `The chat template of ${tokenizer.source} (tokenizer_config.json chat_template) cannot be parsed: ${messageOf(e)}. Fix the template or write the data as {"prompt", "completion"} rows.`,
      );
    }
    const { bos, eos, pad, unk } = tokenizer.special;
    this.variables = { tools: null, documents: null };
    if (bos) this.variables.bos_token = bos.text;
    if (eos) this.variables.eos_token = eos.text;
    if (pad) this.variables.pad_token = pad.text;
    if (unk) this.variables.unk_token = unk.text;
  }

  render(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return this.template.render({ ...this.variables, messages, add_generation_prompt: addGenerationPrompt });
    } catch (e) {
      throw new RowError(`the chat template rejects this conversation: ${messageOf(e)}`);
    }
  }

  /**
   * The whole conversation's ids, with weight 1 on the assistant turns (their text and the
   * template's end-of-turn token) and 0 elsewhere; weights[0] is 0. Each span is tokenized on its
   * own, as the prompt is at generation time: where a reply opens with whitespace the tokenizer
   * would merge with the prompt's end ("assistant\n" + "\n\nreply"), the ids differ from
   * tokenizing the whole rendering at once (what TRL trains on); the loss-carrying text is the same.
   */
  encode(messages: ChatMessage[]): Encoded {
    this.checkGenerationPrompt(messages);
    const full = this.render(messages, false);
    const ids: number[] = [];
    const weights: number[] = [];
    let at = 0;
    const add = (end: number, weight: number) => {
      if (end <= at) return;
      const seg = this.tokenizer.encode(full.slice(at, end), { addSpecialTokens: false });
      for (const id of seg) {
        ids.push(id);
        weights.push(weight);
      }
      at = end;
    };
    for (const [start, end] of assistantSpans(full, messages, (m, g) => this.render(m, g))) {
      add(start, 0);
      add(end, 1);
    }
    add(full.length, 0);
    if (weights.length > 0) weights[0] = 0;
    return { ids, weights };
  }

  /**
   * The assistant turns are delimited by the generation prompt, so a template must add one only
   * when asked — or have none at all: Mistral-instruct's user turn ends with `[/INST]` and the
   * reply follows it directly (generationPromptFree). Some base-model templates always end with
   * the assistant header, or put one before a reply that add_generation_prompt never adds; with
   * those a reply cannot be told from the header next to it, and the template is refused.
   */
  private checkGenerationPrompt(messages: ChatMessage[]): void {
    if (this.generationPromptChecked) return;
    const first = messages.findIndex((m) => m.role === 'assistant');
    if (first <= 0) return;
    const before = messages.slice(0, first);
    const prompt = this.render(before, false);
    const reply = messages[first].content;
    // An empty first reply cannot tell a template without a generation prompt from one that always adds it: a later row decides.
    if (this.render(before, true) === prompt && reply.trim() === '') return;
    if (this.render(before, true) === prompt && !generationPromptFree(prompt, this.render(messages.slice(0, first + 1), false), reply)) {
      throw new DatasetError(
        this.file,
        `The chat template of ${this.tokenizer.source} ignores add_generation_prompt (it renders the same text with and without it), so the assistant replies in ${this.file} cannot be delimited. This is typical of a base model's template: use the chat/instruct model's tokenizer_config.json, or write the data as {"prompt", "completion"} rows.`,
      );
    }
    this.generationPromptChecked = true;
  }
}

/**
 * Whether a template that ignores add_generation_prompt has no generation prompt to add: the
 * first reply (non-empty) follows the rendering of the turns before it directly, with no header
 * in between, and no text the prompt ends with (a header the template always appends) comes
 * again after the reply. `prompt` renders the turns before the reply, `withTurn` those and the reply.
 */
export function generationPromptFree(prompt: string, withTurn: string, reply: string): boolean {
  if (!withTurn.startsWith(prompt) || reply.trim() === '') return false;
  if (!withTurn.slice(prompt.length).trimStart().startsWith(reply.trim())) return false;
  let common = 0;
  while (common < prompt.length && prompt[prompt.length - 1 - common] === withTurn[withTurn.length - 1 - common]) common++;
  return prompt.slice(prompt.length - common).trim() === '';
}

/**
 * [start, end) character ranges of the assistant turns in `full` (the rendering of the whole
 * conversation). Turn i starts where the rendering of the messages before it with the
 * generation prompt ends, and ends where the rendering up to and including it ends. Some
 * templates render a turn differently when it is the last one (Qwen3 adds an empty <think> block
 * to the final assistant turn only); then the end is found by matching the turn's last-turn
 * rendering against `full`, keeping the longest tail of it that `full` has at the turn's start.
 * Whitespace after a turn's end-of-turn token is left out (the model never generates it: it stops
 * at that token).
 */
export function assistantSpans(
  full: string,
  messages: ChatMessage[],
  render: (messages: ChatMessage[], addGenerationPrompt: boolean) => string,
): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let prevEnd = 0;
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const prompt = render(messages.slice(0, i), true);
    if (!full.startsWith(prompt) || prompt.length < prevEnd) {
      throw new RowError(
        `cannot locate assistant message ${i}: the chat template renders the messages before it differently once later messages follow. Write this conversation as prompt/completion rows`,
      );
    }
    const withTurn = render(messages.slice(0, i + 1), false);
    if (!withTurn.startsWith(prompt)) {
      throw new RowError(
        `cannot locate assistant message ${i}: the chat template's generation prompt is not how it starts an assistant turn. Write this conversation as prompt/completion rows`,
      );
    }
    const start = prompt.length;
    let end: number;
    if (full.startsWith(withTurn)) {
      end = withTurn.length;
    } else {
      const turn = withTurn.slice(start);
      end = start + suffixPrefixOverlap(turn, full.slice(start, start + turn.length));
      if (end === start && turn.trim() !== '') {
        throw new RowError(
          `cannot locate assistant message ${i}: the chat template renders it differently when later messages follow. Write this conversation as prompt/completion rows`,
        );
      }
    }
    while (end > start && /\s/.test(full[end - 1])) end--;
    spans.push([start, end]);
    prevEnd = end;
  });
  return spans;
}

/** Length of the longest suffix of `a` that is a prefix of `b` (Knuth–Morris–Pratt, linear time). */
export function suffixPrefixOverlap(a: string, b: string): number {
  const m = Math.min(a.length, b.length);
  if (m === 0) return 0;
  // fail[q]: length of the longest proper border of b[0..q].
  const fail = new Int32Array(m);
  for (let q = 1, k = 0; q < m; q++) {
    while (k > 0 && b[q] !== b[k]) k = fail[k - 1];
    if (b[q] === b[k]) k++;
    fail[q] = k;
  }
  // Run the tail of `a` (an overlap is at most m long) through the matcher of b's prefix.
  let k = 0;
  for (let q = a.length - m; q < a.length; q++) {
    while (k > 0 && (k === m || a[q] !== b[k])) k = fail[k - 1];
    if (a[q] === b[k]) k++;
  }
  return k;
}
