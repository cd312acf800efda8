// Token ids outside the model's vocabulary (issue 13, item 7), through the real `lora-lab train` in
// a child process: an input_ids row with an id past vocab_size, a negative or a fractional one, and
// a model folder whose tokenizer.json is larger than its config.json's vocab_size (the tokenizer
// gives ids the embedding has no row for). Each is refused with exit code 1, the data file and
// line, the bound and the file it comes from, in little memory and before any run folder exists.
// Before: the tokenizer case failed in the pre-flight with "token id 571 at row 0, position 1 is
// outside the vocabulary (0..95)" (no file, no line) and left a failed run folder behind.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runCliChild, type ChildResult } from './helpers/childCli';

const TINY = path.join(ROOT, 'test', 'fixtures', 'gpt2-tiny'); // vocab_size 96, no tokenizer.json
const SAMPLE = path.join(ROOT, 'samples', 'model'); // tokenizer.json with 4096 ids
/** Peak RSS of a CLI that refuses the data: Node, the CLI bundle, TensorFlow.js loaded, no tensor (measured: about 110 MiB). */
const PEAK_MIB = 400;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-hostile-vocab-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** A fresh workspace with `rows` as train.jsonl. */
function workspace(rows: object[]): { dir: string; data: string } {
  const dir = path.join(tmp, `ws-${n++}`);
  fs.mkdirSync(dir);
  const data = path.join(dir, 'train.jsonl');
  fs.writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return { dir, data };
}

/** 24 input_ids rows of 14 ids in 3..92 (inside gpt2-tiny's 96), with `patch` applied to some. */
function idRows(patch: (rows: number[][]) => void): object[] {
  const rows = Array.from({ length: 24 }, (_, i) => Array.from({ length: 14 }, (_, j) => 3 + ((i * 7 + j * 13) % 90)));
  patch(rows);
  return rows.map((ids) => ({ input_ids: ids }));
}

async function train(ws: { dir: string; data: string }, model: string): Promise<ChildResult> {
  return runCliChild(['train', '--model', model, '--data', ws.data, '--workspace', ws.dir, '--backend', 'wasm', '--max-steps', '1'], ws.dir);
}

/** Refused: exit 1, within PEAK_MIB, the workspace holds only the data file (no .lora-lab, no half-written run). */
function expectRefused(r: ChildResult, ws: { dir: string }): void {
  expect(r.code, r.out + r.err).toBe(1);
  expect(r.peakMiB, `peak RSS ${r.peakMiB.toFixed(0)} MiB`).toBeLessThan(PEAK_MIB);
  expect(r.seconds).toBeLessThan(20);
  expect(fs.readdirSync(ws.dir)).toEqual(['train.jsonl']);
}

describe('input_ids outside the vocabulary: file, line, index, bound and config.json', () => {
  const config = path.join(TINY, 'config.json');
  it('an id of 70000 on a 96-token model', async () => {
    const ws = workspace(idRows((rows) => (rows[4][5] = 70000)));
    const r = await train(ws, TINY);
    expectRefused(r, ws);
    expect(r.out).toContain(`${ws.data}: 1 of 24 rows has a problem:`);
    expect(r.out).toContain(`${ws.data}:5: input_ids[5] = 70000 is outside the vocabulary (0…95, vocab_size in ${config}); the ids come from another tokenizer`);
  });

  it('a negative and a fractional id, with the rest of the file counted', async () => {
    const ws = workspace(idRows((rows) => {
      rows[9][2] = -1;
      rows[11][3] = 1.5;
      rows[20][0] = 96;
    }));
    const r = await train(ws, TINY);
    expectRefused(r, ws);
    expect(r.out).toContain(`${ws.data}: 3 of 24 rows have problems:`);
    expect(r.out).toContain(`${ws.data}:10: input_ids[2] = -1 is outside the vocabulary (0…95, vocab_size in ${config})`);
    expect(r.out).toContain(`${ws.data}:12: wrong type: input_ids[3] is 1.5; token ids are whole numbers in 0…95, vocab_size in ${config}`);
    expect(r.out).toContain(`${ws.data}:21: input_ids[0] = 96 is outside the vocabulary`);
  });
});

describe('a tokenizer.json larger than the model (tokenizer 4096 ids, config.json vocab_size 96)', () => {
  /** gpt2-tiny's config and weights with the sample model's tokenizer. */
  function mismatchedModel(): string {
    const dir = path.join(tmp, `model-${n++}`);
    fs.mkdirSync(dir);
    for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(TINY, f), path.join(dir, f));
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(SAMPLE, f), path.join(dir, f));
    return dir;
  }

  it('refused at the first row that gives an id past 95, naming the data file and line, tokenizer.json and config.json', async () => {
    const model = mismatchedModel();
    // Row 1 has only ids under 96 ("a" and EOS 0 in the sample tokenizer); row 2 does not.
    const ws = workspace([{ text: 'a' }, ...Array.from({ length: 20 }, (_, i) => ({ text: `hello world ${i}` }))]);
    const r = await train(ws, model);
    expectRefused(r, ws);
    const msg = `${ws.data}:2: the tokenizer ${path.join(model, 'tokenizer.json')} gives token id `;
    expect(r.out).toContain(msg);
    expect(r.out).toMatch(/gives token id \d+ \(".+"\), outside the model's vocabulary \(0…95, vocab_size in .*config\.json\)\. That tokenizer \(4096 ids\) is not this model's/);
    expect(r.out).toContain(`vocab_size in ${path.join(model, 'config.json')}`);
    expect(r.out).not.toMatch(/at row 0, position/); // the pre-flight's message, without file or line
  });
});
