// Data pipeline: a large JSON Lines file is streamed, not read into one string. 200,000 short
// rows are written to a temporary file and loaded; the check is that it works and that the counts
// are right (no timing or memory assertions: those depend on the machine).
// Reference: the rows written here (known count, known bad rows) and GPT-2's encoding of each
// distinct row by gpt-3-encoder.
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode as gpt3Encode } from 'gpt-3-encoder';
import { LoraTokenizer } from '../../src/core/hf/tokenizer';
import { checkDatasetFile, loadExamples } from '../../src/core/data';
import { GPT2_EOT_ID, gpt2TokenizerConfig, gpt2TokenizerJson } from './helpers/gpt2TokenizerJson';

const ROWS = 200_000;
/** Every this-many rows, one bad JSON line (so bad rows are counted at scale too). */
const BAD_EVERY = 50_000;

let tmp: string;
let file: string;

const textOf = (i: number) => `row ${i % 10} of the big file`;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lora-data-large-'));
  file = join(tmp, 'big.jsonl');
  const out = createWriteStream(file);
  for (let i = 0; i < ROWS; i++) {
    const line = i % BAD_EVERY === BAD_EVERY - 1 ? '{"text": oops}\n' : `${JSON.stringify({ text: textOf(i) })}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('a 200k-row JSON Lines file', () => {
  it('passes the structural check with the right counts', async () => {
    const res = await checkDatasetFile(file, { policy: 'skip' });
    expect(res).toMatchObject({ format: 'text', rows: ROWS - ROWS / BAD_EVERY, skipped: ROWS / BAD_EVERY });
    expect(res.problems.map((p) => p.line)).toEqual([1, 2, 3, 4].map((k) => k * BAD_EVERY));
  });

  it('loads with the right examples and token counts', async () => {
    const gpt2 = LoraTokenizer.fromObjects(gpt2TokenizerJson(), gpt2TokenizerConfig());
    const { examples, report } = await loadExamples(file, gpt2, { maxSeqLen: 64, policy: 'skip' });
    const good = ROWS - ROWS / BAD_EVERY;
    expect(examples).toHaveLength(good);
    const perRow = Array.from({ length: 10 }, (_, d) => [...gpt3Encode(textOf(d)), GPT2_EOT_ID]);
    let tokens = 0;
    for (let i = 0; i < ROWS; i++) if (i % BAD_EVERY !== BAD_EVERY - 1) tokens += perRow[i % 10].length;
    expect(report).toMatchObject({ examples: good, tokens, lossTokens: tokens - good, truncated: 0, skipped: 4 });
    expect(examples[123].ids).toEqual(perRow[123 % 10]);
    expect(examples[examples.length - 1].line).toBe(ROWS - 1); // the last line is bad
  });
});
