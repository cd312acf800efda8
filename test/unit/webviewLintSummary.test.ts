// The Configure section's dataset lint, panel end (issue 14): the messages it sends are decoded
// (or refused with the field), the summary it shows is computed from the host's DatasetLintState
// (counts, a line per file, the first errors each as ONE `file:line` link with the message
// stripped of the path), and Start waits while the dataset has errors. Reference: a CSV with an
// unclosed quote on line 5 → one error at line 5, without csv-parse's "at line 27"; a clean file → Start.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lintDataset } from '../../src/core/lint/lint';
import { parseConfig } from '../../src/core/hf/config';
import type { LintSummary } from '../../src/protocol/lint';
import { decodePanelCommand, isHostNotification, messageBesideLink, shownPath, type DatasetLintState } from '../../src/protocol/panel';
import { draftMaxSeqLen, lintBlocksStart, lintSummaryView } from '../../webview/lintSummary';
import { initialState, reduce } from '../../webview/store';

const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-configure-lint-'));
const BAD = path.join(ws, 'data', 'train.csv');
fs.mkdirSync(path.dirname(BAD));
const rows = ['prompt,completion', 'Say hi,hello', 'Say bye,goodbye', 'Count,one two'];
const tail = Array.from({ length: 22 }, (_, i) => `q${i + 6},a${i + 6}`);
fs.writeFileSync(BAD, [...rows, '"Unclosed,oops', ...tail].join('\n') + '\n'); // the quote opened on line 5 runs to the end (line 27)
const CLEAN = path.join(ws, 'clean.jsonl');
fs.writeFileSync(CLEAN, '{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": "d"}\n');

/** What the host posts once the lint is done (src/host/formLint.ts). */
async function doneState(file: string): Promise<DatasetLintState> {
  const report = await lintDataset(file, { maxSeqLen: 64 });
  const errors = report.diagnostics.filter((d) => d.severity === 'error').slice(0, 5).map(({ file: f, line, code, message }) => ({ file: f, line, code, message }));
  return { dataset: file, workspace: ws, status: 'done', summary: report.summary, errors };
}

describe('messages of the Configure section’s lint', () => {
  it('lintDataset, showProblems and openLocation decode; bad fields are refused with the reason', () => {
    expect(decodePanelCommand({ type: 'lintDataset', maxSeqLen: 256 })).toEqual({ ok: true, value: { type: 'lintDataset', maxSeqLen: 256 } });
    expect(decodePanelCommand({ type: 'lintDataset' })).toEqual({ ok: true, value: { type: 'lintDataset' } });
    expect(decodePanelCommand({ type: 'lintDataset', maxSeqLen: 0 })).toEqual({ ok: false, error: '"maxSeqLen" is 0, expected a whole number ≥ 1' });
    expect(decodePanelCommand({ type: 'lintDataset', maxSeqLen: 2.5 }).ok).toBe(false);
    expect(decodePanelCommand({ type: 'showProblems', file: '/x' })).toEqual({ ok: true, value: { type: 'showProblems' } });
    expect(decodePanelCommand({ type: 'openLocation', file: BAD, line: 5 })).toEqual({ ok: true, value: { type: 'openLocation', file: BAD, line: 5 } });
    expect(decodePanelCommand({ type: 'openLocation', file: BAD, line: 0 })).toEqual({ ok: false, error: '"line" is 0, expected a line number ≥ 1' });
    expect(decodePanelCommand({ type: 'openLocation', file: '', line: 1 })).toEqual({ ok: false, error: '"file" is "", expected a file path' });
    expect(decodePanelCommand({ type: 'openLocation', line: 1 })).toEqual({ ok: false, error: '"file" is missing, expected a string' });
    expect(isHostNotification({ type: 'datasetLint', lint: { dataset: BAD, status: 'checking' } })).toBe(true);
  });

  it('the store keeps the latest lint state', () => {
    const lint: DatasetLintState = { dataset: BAD, status: 'checking' };
    expect(reduce(initialState, { type: 'datasetLint', lint }).lint).toBe(lint);
  });
});

describe('paths and messages beside a link', () => {
  it('a path inside the workspace is shown relative to it, one outside whole', () => {
    expect(shownPath('/ws/data/train.csv', '/ws')).toBe('data/train.csv');
    expect(shownPath('/ws/data/train.csv', '/ws/')).toBe('data/train.csv');
    expect(shownPath('/wsx/train.csv', '/ws')).toBe('/wsx/train.csv');
    expect(shownPath('C:\\ws\\train.csv', 'C:\\ws')).toBe('train.csv');
    expect(shownPath('/ws/train.csv')).toBe('/ws/train.csv');
  });

  it('a leading `<file>:<line>[:<column>]: ` is stripped (the link says it); a line named inside the message stays', () => {
    expect(messageBesideLink('/ws/data/train.csv:5: bad CSV', '/ws/data/train.csv', '/ws')).toBe('bad CSV');
    expect(messageBesideLink('data/train.csv:5:3: bad CSV', '/ws/data/train.csv', '/ws')).toBe('bad CSV');
    expect(messageBesideLink('train.csv:5: bad CSV', '/ws/data/train.csv', '/ws')).toBe('bad CSV');
    expect(messageBesideLink('exact duplicate of line 1: trained twice', '/ws/data/train.csv', '/ws')).toBe('exact duplicate of line 1: trained twice');
    expect(messageBesideLink('other.csv:5: bad', '/ws/data/train.csv', '/ws')).toBe('other.csv:5: bad');
    expect(messageBesideLink('a+b.csv:2: bad', '/ws/a+b.csv', '/ws')).toBe('bad');
  });
});

describe('the lint summary the Configure section shows', () => {
  it('the unclosed quote on line 5: "1 error", one link `data/train.csv:5`, the message without the path or "at line"; Start waits', async () => {
    const state = await doneState(BAD);
    const v = lintSummaryView(state, BAD)!;
    expect(v.counts).toBe('1 error · 0 warnings');
    expect(v.links).toHaveLength(1);
    expect(v.links[0]).toMatchObject({ file: BAD, line: 5, text: 'data/train.csv:5' });
    expect(v.links[0].message).toMatch(/^CSV syntax error in the record starting here \(Quote Not Closed/);
    expect(v.links[0].message).not.toMatch(/at line|train\.csv/);
    expect(v.files).toEqual([{ role: 'training', path: 'data/train.csv', text: expect.stringMatching(/^3 rows \(prompt-completion\) · 1 error, 0 warnings$/) }]);
    expect(v.moreErrors).toBe(0);
    expect(lintBlocksStart(state, BAD)).toBe('The dataset has 1 error that training would refuse: fix it and save the file to start.');
    // While it is linted again (the file saved), Start stays disabled until the new result says otherwise.
    expect(lintBlocksStart({ ...state, status: 'checking' }, BAD)).toMatch(/1 error .*\(checking again…\)/);
    expect(lintSummaryView({ ...state, status: 'checking' }, BAD)!.counts).toBe('1 error · 0 warnings');
  });

  it('a clean file: "no problems", no links, Start enabled', async () => {
    const state = await doneState(CLEAN);
    const v = lintSummaryView(state, CLEAN)!;
    expect(v.counts).toBe('no problems');
    expect(v.links).toEqual([]);
    expect(lintBlocksStart(state, CLEAN)).toBeUndefined();
  });

  it('another dataset’s lint is not shown and does not hold Start back; checking with no result yet, off and failed say so', async () => {
    const state = await doneState(BAD);
    expect(lintSummaryView(state, CLEAN)).toBeUndefined();
    expect(lintBlocksStart(state, CLEAN)).toBeUndefined();
    const checking = lintSummaryView({ dataset: BAD, status: 'checking' }, BAD)!;
    expect([checking.status, checking.counts, checking.links]).toEqual(['checking', undefined, []]);
    expect(lintBlocksStart({ dataset: BAD, status: 'checking' }, BAD)).toBeUndefined();
    expect(lintSummaryView({ dataset: BAD, status: 'off', note: 'The dataset lint is off' }, BAD)!.notes).toEqual(['The dataset lint is off']);
    expect(lintSummaryView({ dataset: BAD, status: 'failed', note: 'could not be linted' }, BAD)).toMatchObject({ status: 'failed', notes: ['could not be linted'] });
  });

  it('a validation file linted with the dataset has its own line; errors past the first five are counted, not listed', () => {
    const file = (f: string, errors: number) => ({ file: f, format: 'text', rows: 10, examples: 10 - errors, errors, warnings: 0, duplicates: 0, leaked: 0 });
    const summary: LintSummary = { files: [file('/ws/train.jsonl', 7), file('/ws/valid.jsonl', 0)], maxSeqLen: 64, errors: 7, warnings: 0, omitted: 0, seconds: 0.1, skipped: 'no tokenizer in the model folder' };
    const errors = [1, 2, 3, 4, 5].map((line) => ({ file: '/ws/train.jsonl', line, code: 'syntax' as const, message: `train.jsonl:${line}: bad JSON` }));
    const v = lintSummaryView({ dataset: '/ws/train.jsonl', workspace: '/ws', status: 'done', summary, errors }, '/ws/train.jsonl')!;
    expect(v.files.map((f) => [f.role, f.path])).toEqual([['training', 'train.jsonl'], ['validation', 'valid.jsonl']]);
    expect(v.links.map((l) => `${l.text} ${l.message}`)).toEqual(['train.jsonl:1 bad JSON', 'train.jsonl:2 bad JSON', 'train.jsonl:3 bad JSON', 'train.jsonl:4 bad JSON', 'train.jsonl:5 bad JSON']);
    expect(v.moreErrors).toBe(2);
    expect(v.counts).toBe('7 errors · 0 warnings');
    expect(v.notes).toEqual(['Token checks skipped: no tokenizer in the model folder']);
    expect(lintBlocksStart({ dataset: '/ws/train.jsonl', status: 'done', summary }, '/ws/train.jsonl')).toMatch(/^The dataset has 7 errors .*fix them/);
  });

  it('the max_seq_len the host lints with: the draft’s, when valid for the model', () => {
    const spec = parseConfig({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 64, n_head: 2, n_layer: 2, n_positions: 128, vocab_size: 100 });
    expect(draftMaxSeqLen({ maxSeqLen: ' 64 ' }, { modelSpec: spec })).toBe(64);
    expect(draftMaxSeqLen({ maxSeqLen: '256' }, { modelSpec: spec })).toBeUndefined();
    expect(draftMaxSeqLen({ maxSeqLen: '6.5' }, { modelSpec: spec })).toBeUndefined();
    expect(draftMaxSeqLen({ maxSeqLen: '' }, { modelSpec: spec })).toBeUndefined();
  });
});
