// Data pipeline: bad input. Row problems carry file, line and reason; the 'fail' policy (default)
// lists the first 20 and the total, 'skip' keeps the good rows; unusable files (empty, wrong
// kind, binary, a folder, missing) fail before any tokenizer or model is involved.
// References: the fixture files under test/fixtures/datasets (bad rows on known lines, read by
// hand) and files written here with a known number of bad rows.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoraTokenizer } from '../../src/core/hf/tokenizer';
import { checkDatasetFile, DatasetError, loadExamples } from '../../src/core/data';
import { gpt2TokenizerConfig, gpt2TokenizerJson } from './helpers/gpt2TokenizerJson';

const FIX = join(__dirname, '../fixtures/datasets');
const fx = (name: string) => join(FIX, name);

let gpt2: LoraTokenizer;
let tmp: string;

beforeAll(() => {
  gpt2 = LoraTokenizer.fromObjects(gpt2TokenizerJson(), gpt2TokenizerConfig(), 'gpt2 tokenizer.json');
  tmp = mkdtempSync(join(tmpdir(), 'lora-data-errors-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The DatasetError a promise rejects with (fails the test if it resolves or throws something else). */
async function datasetError(p: Promise<unknown>): Promise<DatasetError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DatasetError);
  return e as DatasetError;
}

describe('row problems (test/fixtures/datasets/bad.jsonl: good rows on lines 1, 2 and 8)', () => {
  const expected = [
    { line: 3, reason: /^bad JSON \(/ },
    { line: 4, reason: /^missing field "text"$/ },
    { line: 5, reason: /^wrong type: "text" must be a string, found a number$/ },
    { line: 6, reason: /^empty "text"$/ },
    { line: 7, reason: /^wrong type: each line must be a JSON object, found an array$/ },
  ];

  it("policy 'fail' (the default) refuses the file, listing each problem with file and line", async () => {
    const file = fx('bad.jsonl');
    const err = await datasetError(checkDatasetFile(file));
    expect(err.file).toBe(file);
    expect(err.totalProblems).toBe(5);
    expect(err.problems.map((p) => p.line)).toEqual(expected.map((p) => p.line));
    err.problems.forEach((p, k) => {
      expect(p.file).toBe(file);
      expect(p.reason).toMatch(expected[k].reason);
    });
    expect(err.message).toContain(`${file}:3: bad JSON`);
    expect(err.message).toMatch(/5 of 8 rows have problems/);
    expect(err.message).toMatch(/set the bad-row policy to 'skip'/);
    // The full load refuses it the same way, with the same count.
    const loadErr = await datasetError(loadExamples(file, gpt2, { maxSeqLen: 32 }));
    expect(loadErr.totalProblems).toBe(5);
  });

  it("policy 'skip' keeps the good rows and reports the skipped ones", async () => {
    const { examples, report } = await loadExamples(fx('bad.jsonl'), gpt2, { maxSeqLen: 32, policy: 'skip' });
    expect(examples.map((e) => e.line)).toEqual([1, 2, 8]);
    expect(report.skipped).toBe(5);
    expect(report.problems.map((p) => p.line)).toEqual([3, 4, 5, 6, 7]);
    const check = await checkDatasetFile(fx('bad.jsonl'), { policy: 'skip' });
    expect(check).toMatchObject({ format: 'text', rows: 3, skipped: 5 });
  });

  it("'fail' lists the first 20 problems and gives the total", async () => {
    const file = join(tmp, 'many-bad.jsonl');
    const lines = ['{"text": "fine"}'];
    for (let i = 0; i < 30; i++) lines.push(i % 2 ? '{"text": ' : '{"text": null}');
    writeFileSync(file, lines.join('\n'));
    const err = await datasetError(checkDatasetFile(file));
    expect(err.totalProblems).toBe(30);
    const listed = err.message.split('\n').filter((l) => l.startsWith(`  ${file}:`));
    expect(listed).toHaveLength(20);
    expect(listed[0]).toBe(`  ${file}:2: wrong type: "text" must be a string, found null`);
    expect(err.message).toMatch(/30 of 31 rows have problems/);
    expect(err.message).toMatch(/… and 10 more/);
  });

  it('a .json array: a bad element is a row problem on the line it starts', async () => {
    const err = await datasetError(checkDatasetFile(fx('bad_array.json')));
    expect(err.problems.map((p) => [p.line, p.reason.slice(0, 16)])).toEqual([
      [3, 'bad JSON (Unexpe'],
      [4, 'wrong type: each'],
    ]);
    const ok = await checkDatasetFile(fx('bad_array.json'), { policy: 'skip' });
    expect(ok.rows).toBe(2);
  });

  it('a .json array that loses its structure stops the file with a line', async () => {
    const file = join(tmp, 'no-comma.json');
    writeFileSync(file, '[\n{"text": "a"}\n{"text": "b"}\n]');
    await expect(checkDatasetFile(file)).rejects.toThrow(/no-comma\.json:3: expected ',' or '\]' after the element that starts at line 2/);
    const notArray = join(tmp, 'string.json');
    writeFileSync(notArray, '"just a string"');
    await expect(checkDatasetFile(notArray)).rejects.toThrow(/must be an array of objects/);
  });

  it('messages rows: unknown role, no assistant turn, non-string content, not a list', async () => {
    const err = await datasetError(checkDatasetFile(fx('bad_messages.jsonl')));
    expect(err.problems.map((p) => [p.line, p.reason])).toEqual([
      [1, 'messages[1].role is "bot"; roles must be one of system, user, assistant, tool'],
      [2, 'no assistant message: the loss is on assistant turns only, so this conversation teaches nothing'],
      [3, 'wrong type: messages[0].content must be a string, found null'],
      [4, 'wrong type: "messages" must be an array of {"role", "content"} objects, found a string'],
    ]);
  });

  it('input_ids out of the vocabulary, negative, fractional or too short', async () => {
    const err = await datasetError(checkDatasetFile(fx('bad_ids.jsonl'), { vocabSize: 50257, vocabSource: 'vocab_size in /m/config.json' }));
    expect(err.problems.map((p) => [p.line, p.reason])).toEqual([
      [2, 'input_ids[1] = 50257 is outside the vocabulary (0…50256, vocab_size in /m/config.json); the ids come from another tokenizer'],
      [3, 'input_ids[1] = -4 is outside the vocabulary (0…50256, vocab_size in /m/config.json); the ids come from another tokenizer'],
      [4, 'wrong type: input_ids[0] is 1.5; token ids are whole numbers in 0…50256, vocab_size in /m/config.json'],
      [5, '"input_ids" has 1 token; an example needs at least 2 (each token is predicted from the ones before it)'],
    ]);
    // Without a vocabulary size only non-negative integers are required.
    const loose = await checkDatasetFile(fx('bad_ids.jsonl'), { policy: 'skip' });
    expect(loose.problems.map((p) => [p.line, p.reason])).toEqual([
      [3, 'input_ids[1] = -4 is negative; token ids are whole numbers ≥ 0'],
      [4, 'wrong type: input_ids[0] is 1.5; token ids are whole numbers ≥ 0'],
      [5, '"input_ids" has 1 token; an example needs at least 2 (each token is predicted from the ones before it)'],
    ]);
  });
});

describe('unusable files fail before any tokenizer is needed', () => {
  it('a missing file', async () => {
    const err = await datasetError(checkDatasetFile(join(tmp, 'nope.jsonl')));
    expect(err.message).toMatch(/Dataset file not found: .*nope\.jsonl\. Check the path/);
  });

  it('a folder, naming the dataset files inside it', async () => {
    const dir = join(tmp, 'a-folder');
    mkdirSync(dir);
    writeFileSync(join(dir, 'train.jsonl'), '{"text": "x"}\n');
    const err = await datasetError(loadExamples(dir, undefined, { maxSeqLen: 8 }));
    expect(err.message).toMatch(/is a folder; give the path of a dataset file inside it/);
    expect(err.message).toContain(join(dir, 'train.jsonl'));
  });

  it('a file of the wrong kind: .parquet, or binary content under a text extension', async () => {
    const parquet = join(tmp, 'train.parquet');
    writeFileSync(parquet, Buffer.from('PAR1\0\0binary'));
    await expect(checkDatasetFile(parquet)).rejects.toThrow(/\.parquet is not a supported dataset kind.*to_json/);

    const cases: Array<[string, Buffer, RegExp]> = [
      ['nul.jsonl', Buffer.from('{"text": "a"}\n\0\0\0\0'), /contains NUL bytes, so it is a binary file/],
      ['zipped.jsonl', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x41, 0x42]), /is gzip-compressed/],
      ['parquet.json', Buffer.from('PAR1 but named .json'), /is a Parquet file/],
      ['utf16.csv', Buffer.from('\ufefftext\n', 'utf16le'), /is UTF-16 text\. Re-save it as UTF-8/],
      ['latin1.txt', Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]), /latin1\.txt:1: invalid UTF-8 \(byte 0xe9 at byte offset 3\)/],
    ];
    for (const [name, bytes, message] of cases) {
      const file = join(tmp, name);
      writeFileSync(file, bytes);
      await expect(checkDatasetFile(file), name).rejects.toThrow(message);
    }
  });

  it('empty datasets: no bytes, only whitespace, a header without rows, every row bad', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['empty.jsonl', '', /is empty: the dataset has no rows/],
      ['blank.jsonl', '\n  \n\t\n', /holds only whitespace/],
      ['header.csv', 'text\r\n', /has a header row but no data rows/],
      ['empty.txt', '', /is empty/],
    ];
    for (const [name, content, message] of cases) {
      const file = join(tmp, name);
      writeFileSync(file, content);
      await expect(checkDatasetFile(file), name).rejects.toThrow(message);
      await expect(loadExamples(file, gpt2, { maxSeqLen: 8 }), name).rejects.toThrow(message);
    }
    const allBad = join(tmp, 'all-bad.jsonl');
    writeFileSync(allBad, '{"text": ""}\n{"text": 3}\n');
    const err = await datasetError(loadExamples(allBad, gpt2, { maxSeqLen: 8, policy: 'skip' }));
    expect(err.message).toMatch(/No row of .*all-bad\.jsonl is usable/);
    expect(err.totalProblems).toBe(2);
  });

  it('text rows without a tokenizer name tokenizer.json and suggest input_ids', async () => {
    const err = await datasetError(loadExamples(fx('text.jsonl'), undefined, { maxSeqLen: 8 }));
    expect(err.message).toMatch(/needs the model's tokenizer, but the model folder has no tokenizer\.json.*input_ids/);
  });

  it('a .json array is streamed: its size is not limited, an element over the row limit is refused with its line', async () => {
    const file = join(tmp, 'long-element.json');
    writeFileSync(file, `[\n{"text": "short"},\n{"text": "${'x'.repeat(5000)}"}\n]`);
    await expect(checkDatasetFile(file, { maxRowBytes: 1000 })).rejects.toThrow(/long-element\.json:3: row is 5012 bytes, over the 1000 bytes limit\. .*--max-row-bytes/);
    expect((await checkDatasetFile(file)).rows).toBe(2);
  });
});
