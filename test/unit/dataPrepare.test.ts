// Data pipeline: where validation data comes from (explicit file, sibling valid/val file, seeded
// split) and the reports of both sets.
// References: the fixture folders test/fixtures/datasets/sibling (train.jsonl + valid.jsonl) and
// sibling-csv (train.csv + val.csv, plus a valid.jsonl of another extension family that must be
// ignored); split properties (deterministic, disjoint, covering, sized round(n·f) ≥ 1) checked
// directly on the indices.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoraTokenizer } from '../../src/core/hf/tokenizer';
import { DatasetError, describeReport, prepareData, splitIndices } from '../../src/core/data';
import { gpt2TokenizerConfig, gpt2TokenizerJson } from './helpers/gpt2TokenizerJson';

const FIX = join(__dirname, '../fixtures/datasets');

let gpt2: LoraTokenizer;
let tmp: string;

beforeAll(() => {
  gpt2 = LoraTokenizer.fromObjects(gpt2TokenizerJson(), gpt2TokenizerConfig(), 'gpt2 tokenizer.json');
  tmp = mkdtempSync(join(tmpdir(), 'lora-data-prepare-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const decodeAll = (examples: Array<{ ids: number[] }>) => examples.map((e) => gpt2.decode(e.ids.slice(0, -1)));

function rowsFile(name: string, n: number): string {
  const file = join(tmp, name);
  writeFileSync(file, Array.from({ length: n }, (_, i) => JSON.stringify({ text: `row ${i}` })).join('\n'));
  return file;
}

describe('validation source', () => {
  it('a sibling valid.jsonl next to the training file', async () => {
    const data = await prepareData(join(FIX, 'sibling/train.jsonl'), gpt2, { maxSeqLen: 32 });
    expect(data.validSource).toBe('sibling');
    expect(data.validReport.file).toBe(join(FIX, 'sibling/valid.jsonl'));
    expect(decodeAll(data.valid)).toEqual(['validation row 0', 'validation row 1']);
    expect(data.train).toHaveLength(6);
    expect(data.trainReport.examples).toBe(6);
  });

  it('for a CSV training file, val.csv (same family), not valid.jsonl', async () => {
    const data = await prepareData(join(FIX, 'sibling-csv/train.csv'), gpt2, { maxSeqLen: 32 });
    expect(data.validSource).toBe('sibling');
    expect(data.validReport.file).toBe(join(FIX, 'sibling-csv/val.csv'));
    expect(decodeAll(data.valid)).toEqual(['held out']);
  });

  it('an explicit validation file wins over a sibling', async () => {
    const data = await prepareData(join(FIX, 'sibling/train.jsonl'), gpt2, { maxSeqLen: 32, validFile: join(FIX, 'text.jsonl') });
    expect(data.validSource).toBe('file');
    expect(data.valid).toHaveLength(3);
  });

  it('a missing or bad validation file fails before the training file is tokenized', async () => {
    // No tokenizer: tokenizing the training file would fail differently, so this error comes first.
    await expect(prepareData(join(FIX, 'text.jsonl'), undefined, { maxSeqLen: 32, validFile: join(tmp, 'missing.jsonl') })).rejects.toThrow(
      /Dataset file not found: .*missing\.jsonl/,
    );
    await expect(prepareData(join(FIX, 'text.jsonl'), undefined, { maxSeqLen: 32, validFile: join(FIX, 'bad.jsonl') })).rejects.toThrow(/bad\.jsonl:3: bad JSON/);
    await expect(prepareData(join(FIX, 'text.jsonl'), gpt2, { maxSeqLen: 32, validFile: join(FIX, 'text.jsonl') })).rejects.toThrow(
      /validation file is the training file/,
    );
  });

  it('without a file: a seeded 10% split, deterministic, disjoint, covering every example', async () => {
    const file = rowsFile('train.jsonl', 25);
    const a = await prepareData(file, gpt2, { maxSeqLen: 16, seed: 3 });
    const b = await prepareData(file, gpt2, { maxSeqLen: 16, seed: 3 });
    expect(a.validSource).toBe('split');
    expect(a.valid).toHaveLength(3); // round(25 × 0.1) = 3 (2.5 rounds up)
    expect(decodeAll(b.valid)).toEqual(decodeAll(a.valid));
    const train = decodeAll(a.train);
    const valid = decodeAll(a.valid);
    expect(train.filter((t) => valid.includes(t))).toEqual([]);
    expect([...train, ...valid].sort()).toEqual(Array.from({ length: 25 }, (_, i) => `row ${i}`).sort());
    // Both parts keep file order.
    expect(a.train.map((e) => e.line)).toEqual([...a.train.map((e) => e.line)].sort((x, y) => x - y));
    // Reports of the two parts add up to the file.
    expect(a.trainReport.examples + a.validReport.examples).toBe(25);
    expect(a.trainReport.tokens + a.validReport.tokens).toBe([...a.train, ...a.valid].reduce((s, e) => s + e.ids.length, 0));
    expect(describeReport(a.validReport)).toMatch(/train\.jsonl: text, 3 examples, \d+ tokens \(\d+ with loss\)/);
  });

  it('splitIndices: at least 1 held out, at least 1 kept, different seeds differ', () => {
    expect(splitIndices(5, 0.01, 0).valid).toHaveLength(1);
    expect(splitIndices(2, 0.9, 0)).toMatchObject({ valid: [expect.any(Number)], train: [expect.any(Number)] });
    const splits = [0, 1, 2, 3].map((seed) => splitIndices(100, 0.1, seed).valid.join(','));
    expect(new Set(splits).size).toBe(4);
    for (const seed of [0, 1, 2]) {
      const { train, valid } = splitIndices(100, 0.25, seed);
      expect(valid).toHaveLength(25);
      expect([...train, ...valid].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    }
  });

  it('one example cannot be split; a fraction of 0 means no validation', async () => {
    const one = rowsFile('one.jsonl', 1);
    const err = await prepareData(one, gpt2, { maxSeqLen: 16 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toMatch(/only 1 example, too few to hold one out.*validation fraction to 0/);
    const none = await prepareData(one, gpt2, { maxSeqLen: 16, validFraction: 0 });
    expect(none).toMatchObject({ validSource: 'none', valid: [], validReport: { examples: 0 } });
  });
});
