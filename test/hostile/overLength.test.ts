// Rows that train on nothing, and a runs folder that cannot be written (issue 13, item 7), through
// the real `lora-lab train` in a child process.
// - 20 prompt/completion rows whose prompt alone fills max_seq_len: the completion is cut entirely.
//   Before: "1 row has a problem" (rows after the first problem were not encoded) and a reason that
//   did not say the prompt's length. Now every row is counted and the reason says why.
// - A prompt of a megabyte (under the 8 MiB row cap) is tokenized only as far as max_seq_len needs.
// - A runs folder on a read-only file system: before, "ENOENT: no such file or directory, mkdir …"
//   (Node's recursive mkdir reports the stat of the folder it failed to make); now the folder and
//   EROFS. Needs a read-only mount: root with mount rights, else skipped.
import { readOnlyMount, unmountReadOnly } from '../unit/helpers/readOnlyMount';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runCliChild, type ChildResult } from './helpers/childCli';
import { writeIdsDataset } from './helpers/idsDataset';
import { loadTokenizer } from '../../src/core/hf/tokenizer';

const MODEL = path.join(ROOT, 'samples', 'model');
const TINY = path.join(ROOT, 'test', 'fixtures', 'gpt2-tiny');
/** Peak RSS of a refusing CLI: Node, the bundle, TensorFlow.js, the tokenizer (measured: about 130 MiB). */
const PEAK_MIB = 400;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-hostile-overlength-'));
afterAll(() => {
  unmountReadOnly();
  fs.rmSync(tmp, { recursive: true, force: true });
});
let n = 0;

function workspace(lines: string[]): { dir: string; data: string } {
  const dir = path.join(tmp, `ws-${n++}`);
  fs.mkdirSync(dir);
  const data = path.join(dir, 'train.jsonl');
  fs.writeFileSync(data, lines.join('\n') + '\n');
  return { dir, data };
}

const train = (ws: { dir: string; data: string }, model: string, ...extra: string[]): Promise<ChildResult> =>
  runCliChild(['train', '--model', model, '--data', ws.data, '--workspace', ws.dir, '--backend', 'wasm', '--max-steps', '1', ...extra], ws.dir);

describe('prompt/completion rows whose prompt fills max_seq_len', () => {
  it('20 of 20 rows: every row counted, each listed with the prompt length and max_seq_len; nothing written', async () => {
    // "word" × 40 is 40 tokens in the sample tokenizer; max_seq_len 32 leaves the completion nothing.
    const rows = Array.from({ length: 20 }, (_, i) => JSON.stringify({ prompt: `${'word '.repeat(40)}${i}`.slice(0, 160), completion: ` answer ${i}` }));
    const ws = workspace(rows);
    const r = await train(ws, MODEL, '--max-seq-len', '32');
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toContain(`${ws.data}: 20 of 20 rows have problems:`);
    expect(r.out).toMatch(new RegExp(`${ws.data}:1: the completion is cut entirely by max_seq_len = 32: the prompt is (more than )?\\d+ tokens, so the row trains on nothing\\. Raise max_seq_len \\(--max-seq-len\\) or shorten the prompt`));
    expect(r.out).toContain(`${ws.data}:20: the completion is cut entirely`);
    expect(r.peakMiB).toBeLessThan(PEAK_MIB);
    expect(fs.readdirSync(ws.dir)).toEqual(['train.jsonl']);
  });

  it('a prompt that fits is counted exactly; one good row among them makes it "19 of 20"', async () => {
    const prompt = 'word '.repeat(9).trim();
    const tokens = loadTokenizer(MODEL)!.encode(prompt).length; // the reference: the sample tokenizer on the whole prompt
    const rows = Array.from({ length: 20 }, (_, i) => JSON.stringify({ prompt: i === 7 ? 'Q:' : prompt, completion: ` answer ${i}` }));
    const ws = workspace(rows);
    const r = await train(ws, MODEL, '--max-seq-len', String(tokens));
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toContain(`${ws.data}: 19 of 20 rows have problems:`);
    expect(r.out).toContain(`${ws.data}:1: the completion is cut entirely by max_seq_len = ${tokens}: the prompt is ${tokens} tokens, so the row trains on nothing.`);
    expect(r.out).not.toContain(`${ws.data}:8:`);
  });

  it('a 1 MB prompt (under the row cap) with a completion that fits after a short prompt elsewhere: refused in seconds, in bounded memory', async () => {
    const huge = 'lorem ipsum dolor sit amet '.repeat(40_000); // 1.08 MB, ~200k tokens
    const rows = [JSON.stringify({ prompt: huge, completion: ' done' }), ...Array.from({ length: 4 }, (_, i) => JSON.stringify({ prompt: 'Q:', completion: ` answer ${i}` }))];
    const ws = workspace(rows);
    const r = await train(ws, MODEL, '--max-seq-len', '64');
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toContain(`${ws.data}: 1 of 5 rows has a problem:`);
    expect(r.out).toMatch(/train\.jsonl:1: the completion is cut entirely by max_seq_len = 64: the prompt is more than \d+ tokens/);
    expect(r.seconds).toBeLessThan(15);
    expect(r.peakMiB).toBeLessThan(PEAK_MIB);
  });
});

describe('a runs folder that cannot be written', () => {
  const ro = readOnlyMount(tmp);
  it.runIf(ro !== undefined)('on a read-only file system: names the folder and EROFS, not ENOENT', async () => {
    const data = path.join(tmp, 'ids.jsonl');
    writeIdsDataset(data, 3);
    const r = await runCliChild(['train', '--model', TINY, '--data', data, '--workspace', ro!, '--backend', 'wasm', '--max-steps', '1'], tmp);
    expect(r.code, r.out + r.err).toBe(1);
    // Said before the data is read (RunDir.assertCanCreateIn), so the run folder is named by its runs folder.
    expect(r.out).toMatch(new RegExp(`cannot create a run folder in ${ro}/\\.lora-lab/runs: the folder ${ro} is on a read-only file system \\(EROFS\\)\\. Choose a writable runs folder \\(--runs-dir, or the loraLab\\.runsFolder setting\\)`));
    expect(r.out + r.err).not.toMatch(/ENOENT/);
  });

  it('under a file: names the file (ENOTDIR)', async () => {
    const data = path.join(tmp, 'ids2.jsonl');
    writeIdsDataset(data, 4);
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, '');
    const r = await runCliChild(['train', '--model', TINY, '--data', data, '--workspace', tmp, '--runs-dir', path.join(file, 'runs'), '--backend', 'wasm', '--max-steps', '1'], tmp);
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toContain(`: ${file} is a file, not a folder (ENOTDIR).`);
  });
});
