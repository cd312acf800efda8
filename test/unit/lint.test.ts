// Dataset lint (src/core/lint/lint.ts) against planted files: each diagnostic on the right line
// with the right code, all problems reported (not the first), and no false positives on the
// sample datasets. The reference for "error" is training itself: every file the lint passes
// without errors loads with loadExamples (policy 'fail'), and every file with errors is refused.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExamples } from '../../src/core/data';
import { loadTokenizer } from '../../src/core/hf/tokenizer';
import { codeOfReason, lintDataset, type LintOptions } from '../../src/core/lint/lint';
import { viewRow } from '../../src/core/lint/rowView';
import type { LintDiagnostic, LintReport } from '../../src/protocol/lint';

const ROOT = path.join(__dirname, '..', '..');
const MODEL = path.join(ROOT, 'samples', 'model');
const SAMPLES = path.join(ROOT, 'samples', 'datasets');
const tokenizer = loadTokenizer(MODEL)!;
const vocab = { size: 4096, source: `vocab_size in ${MODEL}/config.json` };
const base: LintOptions = { tokenizer, vocab, model: MODEL, maxSeqLen: 64, validFile: false };

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lint-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function plant(name: string, lines: string[] | string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Array.isArray(lines) ? lines.join('\n') + '\n' : lines);
  return file;
}

const at = (r: LintReport, code: string) => r.diagnostics.filter((d) => d.code === code).map((d) => d.line);
const only = (r: LintReport, severity: LintDiagnostic['severity']) => r.diagnostics.filter((d) => d.severity === severity);
const pc = (prompt: string, completion: string) => JSON.stringify({ prompt, completion });

async function trainingRefuses(file: string, maxSeqLen = 64): Promise<boolean> {
  try {
    await loadExamples(file, tokenizer, { maxSeqLen, vocabSize: vocab.size });
    return false;
  } catch {
    return true;
  }
}

describe('lint: errors are what training refuses, all of them, on their lines', () => {
  it('a JSONL file with a bad row of each kind: every one reported on its line, none stopping the rest', async () => {
    const file = plant('bad.jsonl', [
      pc('Define: Cat', ' A small animal.'), // 1 ok
      '{"prompt": "Define: Dog", "completion": ', // 2 bad JSON
      '{"prompt": "Define: Fox"}', // 3 missing completion
      '{"prompt": "Define: Owl", "completion": 7}', // 4 wrong type
      '{"prompt": "Define: Elk", "completion": "   "}', // 5 empty
      '{"foo": 1}', // 6 unknown shape? (format is prompt-completion from row 1: missing fields)
      '[1, 2]', // 7 not an object
      pc('Define: Bee', ' An insect.'), // 8 ok
    ]);
    const r = await lintDataset(file, base);
    expect(at(r, 'syntax')).toEqual([2]);
    expect(at(r, 'missing-field')).toEqual([3, 6]);
    expect(at(r, 'wrong-type')).toEqual([4, 7]);
    expect(at(r, 'empty-field')).toEqual([5]);
    expect(r.summary.errors).toBe(6);
    expect(r.summary.files[0]).toMatchObject({ rows: 8, examples: 2, format: 'prompt-completion' });
    expect(await trainingRefuses(file)).toBe(true);
  });

  it('chat rows: unknown role, no assistant turn, an empty assistant turn (warning), the template keeps the assistant content', async () => {
    const msg = (...m: [string, string][]) => JSON.stringify({ messages: m.map(([role, content]) => ({ role, content })) });
    const file = plant('chat.jsonl', [
      msg(['user', 'Hi'], ['assistant', 'Hello there.']), // 1 ok
      msg(['user', 'Hi'], ['robot', 'Beep.']), // 2 unknown role
      msg(['user', 'Hi'], ['user', 'Anyone?']), // 3 no assistant
      msg(['user', 'Hi'], ['assistant', ''], ['user', 'Well?'], ['assistant', 'Yes.']), // 4 empty assistant turn
    ]);
    const r = await lintDataset(file, base);
    expect(at(r, 'unknown-role')).toEqual([2]);
    expect(at(r, 'no-assistant')).toEqual([3]);
    expect(at(r, 'empty-assistant')).toEqual([4]);
    expect(at(r, 'template-drops-content')).toEqual([]);
    expect(r.summary.errors).toBe(2);
  });

  it('input_ids outside the vocabulary and too short; rows not ending in EOS said once', async () => {
    const file = plant('ids.jsonl', ['{"input_ids": [5, 6, 7]}', '{"input_ids": [5, 4096, 7]}', '{"input_ids": [9]}', '{"input_ids": [5, 6, 0]}']);
    const r = await lintDataset(file, base);
    expect(at(r, 'out-of-vocab')).toEqual([2]);
    expect(r.diagnostics.find((d) => d.code === 'out-of-vocab')!.message).toMatch(/input_ids\[1\] = 4096 is outside the vocabulary/);
    expect(at(r, 'too-short')).toEqual([3]);
    const eos = tokenizer.special.eos!.id;
    const noEos = r.diagnostics.filter((d) => d.code === 'ids-no-eos');
    expect(noEos).toHaveLength(1);
    expect(noEos[0].message).toContain(`(id ${eos})`);
  });

  it('a completion cut entirely by max_seq_len is an error (training refuses the row), a cut with loss left a warning with the count', async () => {
    const long = 'word '.repeat(80);
    const file = plant('trunc.jsonl', [pc(long, ' gone.'), pc('Define: Cat', ` ${long}`), pc('Define: Dog', ' A friend.')]);
    const r = await lintDataset(file, { ...base, maxSeqLen: 32 });
    expect(at(r, 'no-loss')).toEqual([1]);
    expect(r.diagnostics.find((d) => d.code === 'no-loss')!.message).toMatch(/completion is cut entirely by max_seq_len = 32/);
    expect(at(r, 'truncated')).toEqual([2]);
    const t = r.diagnostics.find((d) => d.code === 'truncated')!;
    expect(t.message).toMatch(/^\d+ tokens, over max_seq_len = 32: the last \d+ tokens are cut, \d+ loss tokens of \d+ among them/);
    const s = r.summary.files[0].tokens!;
    expect(s.overMaxLen).toBe(2);
    expect(s.lossDropped).toBeGreaterThan(0);
    expect(s.lengths.max).toBeGreaterThan(80);
    expect(await trainingRefuses(r.summary.files[0].file, 32)).toBe(true);
  });

  it('a CSV with an unclosed quote: one error on the line the record starts, rows before it still checked', async () => {
    const file = plant('q.csv', ['prompt,completion', 'Define: Cat, A small animal.', '"Define: Dog,A friend.', 'Define: Owl,A bird.']);
    const r = await lintDataset(file, base);
    const errs = only(r, 'error');
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ line: 3, code: 'syntax' });
    expect(errs[0].message).not.toMatch(/at line \d+/);
  });

  it('file-level problems: missing file, binary content, invalid UTF-8 past the first 64 KiB (with its line)', async () => {
    const missing = await lintDataset(path.join(dir, 'nope.jsonl'), base);
    expect(missing.diagnostics[0]).toMatchObject({ code: 'file', line: 1, severity: 'error' });
    const bin = plant('bin.jsonl', Buffer.from([0x7b, 0, 0, 1, 2, 0x7d]) as unknown as string);
    expect((await lintDataset(bin, base)).diagnostics[0]).toMatchObject({ code: 'file', severity: 'error' });
    const rows = Array.from({ length: 3000 }, (_, i) => pc(`Define: word${i}`, ` meaning ${i}.`));
    const file = path.join(dir, 'latin1.jsonl');
    fs.writeFileSync(file, Buffer.concat([Buffer.from(rows.join('\n') + '\n'), Buffer.from('{"prompt": "caf'), Buffer.from([0xe9]), Buffer.from('", "completion": " x"}\n')]));
    const r = await lintDataset(file, base);
    expect(r.diagnostics.filter((d) => d.code === 'invalid-utf8').map((d) => d.line)).toEqual([3001]);
  });
});

describe('lint: warnings', () => {
  it('exact duplicates name the earlier line and carry a quick fix that deletes the later row', async () => {
    const file = plant('dup.jsonl', [pc('A', ' one.'), pc('B', ' two.'), pc('A', ' one.'), '{"completion": " one.", "prompt": "A"}']);
    const r = await lintDataset(file, base);
    const dups = r.diagnostics.filter((d) => d.code === 'duplicate');
    expect(dups.map((d) => d.line)).toEqual([3, 4]);
    expect(dups[0].message).toMatch(/duplicate of line 1/);
    expect(dups[0].fix).toEqual({ title: 'Remove the duplicate row (line 3)', file, deleteLines: { from: 3, to: 3 } });
    expect(r.summary.files[0].duplicates).toBe(2);
  });

  it('validation rows that are training rows: both lines named, the fix removes the validation row', async () => {
    const train = plant('lk/train.jsonl', [pc('A', ' one.'), pc('B', ' two.'), pc('C', ' three.')].join('\n') + '\n');
    const valid = plant('lk/valid.jsonl', [pc('X', ' ten.'), pc('C', ' three.')].join('\n') + '\n');
    // The sibling valid.jsonl is found as training finds it.
    const r = await lintDataset(train, { ...base, validFile: undefined });
    expect(r.summary.files.map((f) => f.file)).toEqual([train, valid]);
    const leaks = r.diagnostics.filter((d) => d.code === 'leak');
    expect(leaks.map((d) => [path.basename(d.file), d.line])).toEqual([['train.jsonl', 3], ['valid.jsonl', 2]]);
    expect(leaks[1].message).toMatch(/train\.jsonl:3/);
    expect(leaks[1].fix?.deleteLines).toEqual({ from: 2, to: 2 });
    expect(r.summary.files[0].leaked).toBe(1);
  });

  it('a completion that already ends with the EOS text', async () => {
    const eos = tokenizer.special.eos!.text;
    const file = plant('eos.jsonl', [pc('A', ` one.${eos}`), pc('B', ' two.')]);
    const r = await lintDataset(file, base);
    expect(at(r, 'eos-in-text')).toEqual([1]);
  });
});

describe('lint: info and the sample datasets', () => {
  it.each(['devil/train.jsonl', 'chat.jsonl', 'prompt_completion.jsonl', 'text.jsonl', 'input_ids.jsonl', 'definitions.json', 'devil.csv', 'verses.tsv', 'bible.txt'])(
    '%s: no errors; the summary counts rows and tokens; training loads it',
    async (name) => {
      const file = path.join(SAMPLES, name);
      const r = await lintDataset(file, { ...base, maxSeqLen: 256 });
      expect(only(r, 'error'), JSON.stringify(only(r, 'error').slice(0, 3))).toEqual([]);
      const s = r.summary.files[0];
      expect(s.rows).toBeGreaterThan(0);
      expect(s.tokens!.total).toBeGreaterThan(0);
      expect(s.tokens!.loss).toBeGreaterThan(0);
      expect(r.diagnostics.some((d) => d.code === 'summary' && d.line === 1)).toBe(true);
      expect(await trainingRefuses(file, 256)).toBe(false);
    },
  );

  it('the summary agrees with training: examples, kept tokens and loss tokens equal loadExamples’ report', async () => {
    const file = path.join(SAMPLES, 'devil', 'train.jsonl');
    const r = await lintDataset(file, { ...base, maxSeqLen: 128 });
    const { report } = await loadExamples(file, tokenizer, { maxSeqLen: 128 });
    const s = r.summary.files[0];
    expect(s.examples).toBe(report.examples);
    expect(s.tokens!.kept).toBe(report.tokens);
    expect(s.tokens!.loss).toBe(report.lossTokens);
    expect(s.tokens!.overMaxLen).toBe(report.truncated);
  });

  it('without a tokenizer only the structure is checked, and the summary says what was skipped', async () => {
    const r = await lintDataset(path.join(SAMPLES, 'prompt_completion.jsonl'), { maxSeqLen: 64, validFile: false, noTokenizerReason: 'no --model given' });
    expect(r.summary.skipped).toMatch(/no --model given/);
    expect(r.summary.files[0].tokens).toBeUndefined();
    expect(only(r, 'error')).toEqual([]);
  });

  it('codes of row reasons', () => {
    expect(codeOfReason('bad JSON (Unexpected end)')).toBe('syntax');
    expect(codeOfReason('messages[1].role is "robot"; roles must be one of system, user')).toBe('unknown-role');
    expect(codeOfReason('something new')).toBe('row');
  });
});

describe('row view (the hover)', () => {
  it('a prompt/completion row: the completion tokens carry loss, the prompt tokens do not, tokens past max_seq_len are cut', async () => {
    const file = plant('view.jsonl', [pc('Define: Cat', ' A small animal that purrs and sleeps all day long.')]);
    const v = (await viewRow(file, 1, { ...base, maxSeqLen: 8 }))!;
    expect(v.format).toBe('prompt-completion');
    expect(v.tokens.map((t) => t.text).join('')).toBe('Define: Cat A small animal that purrs and sleeps all day long.' + tokenizer.special.eos!.text);
    const promptTokens = tokenizer.encode('Define: Cat', { addSpecialTokens: false }).length;
    expect(v.tokens.slice(0, promptTokens).every((t) => !t.loss)).toBe(true);
    expect(v.tokens.slice(promptTokens).every((t) => t.loss)).toBe(true);
    expect(v.tokens.filter((t) => t.cut)).toHaveLength(v.total - 8);
    expect(v.total).toBe(v.tokens.length);
  });

  it('the editor’s unsaved line is what is shown (JSON Lines); a chat row shows the template’s text', async () => {
    const file = plant('view2.jsonl', ['{}']);
    const text = JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }] });
    const v = (await viewRow(file, 1, { ...base, text }))!;
    expect(v.format).toBe('messages');
    expect(v.rendered).toContain('Hello.');
    expect(v.tokens.filter((t) => t.loss).map((t) => t.text).join('')).toContain('Hello.');
    expect(v.tokens.filter((t) => !t.loss).map((t) => t.text).join('')).toContain('Hi');
  });

  it('a CSV record spanning lines is found from any of its lines', async () => {
    const file = plant('multi.csv', ['prompt,completion', 'A," one"', '"B","two', 'lines"', 'C, three']);
    const v = (await viewRow(file, 4, base))!;
    expect(v.line).toBe(3);
    expect(v.endLine).toBe(4);
    expect(v.rendered).toContain('two\nlines');
  });
});
