// The bundled sample model (samples/model) and datasets (samples/datasets). The reference values
// in test/fixtures/sample-golden.json come from PyTorch + transformers + tokenizers on the same
// files (scripts/pretrain_sample.py): the engine must reproduce the model's logits and held-out
// loss, the tokenizer its ids, and the chat template its rendering; every sample dataset must load.
import * as tf from '@tensorflow/tfjs';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDatasetFile, loadExamples, prepareData, type DatasetFormat } from '../../src/core/data';
import { ChatRenderer } from '../../src/core/data/chat';
import type { ChatMessage } from '../../src/core/data/rows';
import { readConfig } from '../../src/core/hf/config';
import { loadModel, type LoadedModel } from '../../src/core/models/load';
import { loadTokenizer, type LoraTokenizer } from '../../src/core/hf/tokenizer';

const ROOT = join(__dirname, '..', '..');
const MODEL = join(ROOT, 'samples', 'model');
const DATA = join(ROOT, 'samples', 'datasets');

interface SampleGolden {
  vocab_size: number;
  text: string;
  text_ids: number[];
  input_ids: number[][];
  logit_columns: number[];
  logits: number[][][];
  argmax: number[][];
  valid_ids: number[];
  valid_loss: number;
  chat_messages: ChatMessage[];
  chat_rendered: string;
  chat_prompt: string;
  chat_ids: number[];
}

const golden = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'sample-golden.json'), 'utf8')) as SampleGolden;

describe('sample model folder', () => {
  it('is a GPT-2 checkpoint small enough to commit, with its tokenizer and model card', () => {
    const { spec } = readConfig(MODEL);
    expect(spec.family).toBe('gpt2');
    expect(spec.vocabSize).toBe(golden.vocab_size);
    expect(spec.maxPositions).toBe(256);
    const config = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')) as { architectures: string[] };
    expect(config.architectures).toEqual(['GPT2LMHeadModel']);
    expect(statSync(join(MODEL, 'model.safetensors')).size).toBeLessThan(20 * 1024 * 1024);
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'README.md']) expect(statSync(join(MODEL, f)).isFile()).toBe(true);
  });
});

describe('sample tokenizer', () => {
  let tok: LoraTokenizer;
  beforeAll(() => {
    tok = loadTokenizer(MODEL)!;
  });

  it('has 4,096 ids, <|endoftext|> as BOS/EOS/PAD and the ChatML tokens', () => {
    expect(tok.vocabSize).toBe(golden.vocab_size);
    expect(tok.special.bos).toEqual({ text: '<|endoftext|>', id: 0 });
    expect(tok.special.eos).toEqual({ text: '<|endoftext|>', id: 0 });
    expect(tok.special.pad).toEqual({ text: '<|endoftext|>', id: 0 });
    expect(tok.tokenToId('<|im_start|>')).toBe(1);
    expect(tok.tokenToId('<|im_end|>')).toBe(2);
    expect(tok.modelMaxLength).toBe(256);
  });

  it('gives the ids of Hugging Face tokenizers and round-trips the text', () => {
    const ids = tok.encode(golden.text);
    expect(ids).toEqual(golden.text_ids);
    expect(tok.decode(ids)).toBe(golden.text);
    // Adds nothing around a text (GPT-2 style: no BOS), as transformers' AutoTokenizer does.
    expect(tok.encode(golden.text, { addSpecialTokens: true })).toEqual(golden.text_ids);
    for (const s of ['Define: Cynic\n', 'Price: $12.99 -- "quoted", naïve café ☺', '  two  spaces\n\nand lines']) {
      expect(tok.decode(tok.encode(s))).toBe(s);
    }
  });

  it('renders its chat template as transformers does, honouring add_generation_prompt', () => {
    const chat = new ChatRenderer(tok, 'sample-golden');
    expect(chat.render(golden.chat_messages, false)).toBe(golden.chat_rendered);
    expect(chat.render(golden.chat_messages.slice(0, 2), true)).toBe(golden.chat_prompt);
    expect(tok.encode(golden.chat_rendered)).toEqual(golden.chat_ids);
    const { ids, weights } = chat.encode(golden.chat_messages);
    expect(ids).toEqual(golden.chat_ids);
    const learned = tok.decode(ids.filter((_, t) => weights[t] > 0));
    expect(learned).toBe(`${golden.chat_messages[2].content}<|im_end|>`);
  });
});

describe('sample model against PyTorch', () => {
  let loaded: LoadedModel;
  beforeAll(() => {
    loaded = loadModel(MODEL);
  });
  afterAll(() => loaded.model.dispose());

  it('loads every tensor of the checkpoint', () => {
    expect(loaded.unusedTensors).toEqual([]);
    expect(loaded.dtypes).toEqual({ F32: expect.any(Number) });
  });

  it('gives the logits of transformers within 1e-4 (and the same greedy next tokens)', () => {
    const logits = loaded.model.logits(golden.input_ids);
    const [B, T] = [golden.input_ids.length, golden.input_ids[0].length];
    expect(logits.shape).toEqual([B, T, golden.vocab_size]);
    const cols = tf.tensor1d(golden.logit_columns, 'int32');
    const sliced = tf.gather(logits, cols, 2);
    const diff = sliced.sub(tf.tensor3d(golden.logits)).abs().max().dataSync()[0];
    expect(diff).toBeLessThan(1e-4);
    expect(logits.argMax(2).arraySync()).toEqual(golden.argmax);
    tf.dispose([logits, cols, sliced]);
  });

  it('has the held-out loss of transformers, far below the uniform ln(vocab)', () => {
    const { loss } = loaded.model.loss([golden.valid_ids]);
    const value = loss.dataSync()[0];
    loss.dispose();
    expect(Math.abs(value - golden.valid_loss)).toBeLessThan(1e-4);
    expect(value).toBeLessThan(0.6 * Math.log(golden.vocab_size));
  });
});

describe('sample datasets', () => {
  let tok: LoraTokenizer;
  beforeAll(() => {
    tok = loadTokenizer(MODEL)!;
  });

  const FILES: Array<[file: string, format: DatasetFormat]> = [
    ['devil/train.jsonl', 'prompt-completion'],
    ['devil/valid.jsonl', 'prompt-completion'],
    ['prompt_completion.jsonl', 'prompt-completion'],
    ['text.jsonl', 'text'],
    ['chat.jsonl', 'messages'],
    ['input_ids.jsonl', 'input-ids'],
    ['devil.csv', 'prompt-completion'],
    ['definitions.json', 'prompt-completion'],
    ['verses.tsv', 'text'],
    ['bible.txt', 'plain-text'],
  ];

  it.each(FILES)('%s loads as %s with no bad row and nothing cut at 128 tokens', async (file, format) => {
    const path = join(DATA, file);
    const check = await checkDatasetFile(path, { policy: 'fail', vocabSize: tok.vocabSize });
    expect(check.format).toBe(format);
    expect(check.skipped).toBe(0);
    const { examples, report } = await loadExamples(path, tok, { maxSeqLen: 128, policy: 'fail', vocabSize: tok.vocabSize });
    expect(report.format).toBe(format);
    expect(report.truncated).toBe(0);
    expect(examples.length).toBeGreaterThan(format === 'plain-text' ? 5 : 50);
  });

  it('the Devil\'s Dictionary task finds its held-out valid.jsonl; the format samples split their own', async () => {
    const devil = await prepareData(join(DATA, 'devil', 'train.jsonl'), tok, { maxSeqLen: 128 });
    expect(devil.validSource).toBe('sibling');
    expect(devil.valid.length).toBeGreaterThan(80);
    expect(devil.train.length).toBeGreaterThan(8 * devil.valid.length);
    const prompts = (f: string) => new Set(readFileSync(join(DATA, 'devil', f), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { prompt: string }).prompt));
    const train = prompts('train.jsonl');
    expect([...prompts('valid.jsonl')].filter((p) => train.has(p))).toEqual([]);
    const small = await prepareData(join(DATA, 'prompt_completion.jsonl'), tok, { maxSeqLen: 128 });
    expect(small.validSource).toBe('split');
  });
});
