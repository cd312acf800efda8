// Exclusion lists (src/core/data/exclusions.ts): `<dataset>.lora-lab-exclude.json` beside a dataset
// leaves those rows out of every loader — training and its pre-pass, the lint — and a run records
// them in run.json. Invariants: the examples are the file's rows minus the listed lines; a listed
// malformed row no longer stops training; a dataset edited after the list was written is flagged.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDatasetFile, exclusionFileOf, loadExamples, readExclusions, updateExclusions } from '../../src/core/data';
import { lintDataset } from '../../src/core/lint/lint';
import { RunDir } from '../../src/core/runs';
import { runSession, type SessionEvent } from '../../src/core/session';
import { randomIds } from './helpers/randomModel';

const MODEL = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny');
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-exclude-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function dataset(name: string, rows: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, rows.join('\n') + '\n');
  return file;
}
const idsRows = (n: number, seed: number) => randomIds(n, 10, 96, seed).map((ids) => JSON.stringify({ input_ids: ids }));

describe('the exclusion list file', () => {
  it('adds lines sorted and unique with notes, removes them, and records the dataset sha256', () => {
    const file = dataset('a.jsonl', idsRows(6, 1));
    updateExclusions(file, [5, 2, 5], { note: 'step 12: loss 9.1' });
    let list = readExclusions(file)!;
    expect(list.list.lines).toEqual([2, 5]);
    expect(list.list.notes).toEqual({ 2: 'step 12: loss 9.1', 5: 'step 12: loss 9.1' });
    expect(list.list.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(list.stale).toBeUndefined();
    updateExclusions(file, [2], { remove: true });
    list = readExclusions(file)!;
    expect(list.list.lines).toEqual([5]);
    expect(Object.keys(list.list.notes ?? {})).toEqual(['5']);
  });

  it('a dataset edited after the list was written is flagged as stale; a malformed list names its file', () => {
    const file = dataset('b.jsonl', idsRows(4, 2));
    updateExclusions(file, [1]);
    fs.appendFileSync(file, idsRows(1, 3)[0] + '\n');
    expect(readExclusions(file)!.stale).toMatch(/b\.jsonl changed since b\.jsonl\.lora-lab-exclude\.json was written/);
    fs.writeFileSync(exclusionFileOf(file), '{"lines": [0]}');
    expect(() => readExclusions(file)).toThrow(/b\.jsonl\.lora-lab-exclude\.json: "lines" must be a list of line numbers/);
  });
});

describe('loaders honour it', () => {
  it('training examples are the rows minus the listed lines; a listed malformed row no longer stops the run', async () => {
    const rows = idsRows(8, 4);
    rows[3] = '{"input_ids": [1, 2,'; // line 4: bad JSON
    const file = dataset('c.jsonl', rows);
    await expect(checkDatasetFile(file)).rejects.toThrow(/c\.jsonl:4/);
    updateExclusions(file, [4, 7]);
    await expect(checkDatasetFile(file)).resolves.toMatchObject({ rows: 6 });
    const { examples, report } = await loadExamples(file, undefined, { maxSeqLen: 32 });
    expect(examples.map((e) => e.line)).toEqual([1, 2, 3, 5, 6, 8]);
    expect(report.excluded).toEqual({ file: exclusionFileOf(file), rows: 2, lines: [4, 7] });
    const all = await loadExamples(file, undefined, { maxSeqLen: 32, ignoreExclusions: true, policy: 'skip' });
    expect(all.examples).toHaveLength(7);
  });

  it('the lint leaves them out too: no error for the listed bad row, no duplicate of a listed row, one info line', async () => {
    const rows = idsRows(5, 5);
    rows.push(rows[0]); // line 6 duplicates line 1
    rows[2] = 'not json'; // line 3
    const file = dataset('d.jsonl', rows);
    updateExclusions(file, [3, 6]);
    const r = await lintDataset(file, { maxSeqLen: 32, validFile: false });
    expect(r.summary.errors).toBe(0);
    expect(r.diagnostics.filter((d) => d.code === 'duplicate')).toEqual([]);
    expect(r.diagnostics.find((d) => d.code === 'excluded')?.message).toBe('2 rows left out of training by d.jsonl.lora-lab-exclude.json (2 listed lines)');
    expect(r.summary.files[0].excluded).toBe(2);
  });

  it('a run trains without the listed rows and records them in run.json', async () => {
    const ws = fs.mkdtempSync(path.join(dir, 'ws-'));
    const file = path.join(ws, 'train.jsonl');
    fs.writeFileSync(file, idsRows(24, 6).join('\n') + '\n');
    updateExclusions(file, [2, 9, 20]);
    const events: SessionEvent[] = [];
    for await (const e of runSession({ model: MODEL, data: file, workspace: ws, backend: 'wasm', training: { maxSteps: 6, batchSize: 4 } })) events.push(e);
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status, fin.message).toBe('completed');
    const run = RunDir.open(fin.runDir!);
    expect(run.record().dataset.excluded).toEqual({ file: exclusionFileOf(file), rows: 3, lines: [2, 9, 20] });
    const data = events.find((e) => e.type === 'data') as Extract<SessionEvent, { type: 'data' }>;
    expect(data.train.examples + data.valid.examples).toBe(21); // 24 rows, 3 excluded, then the held-out split
    const trained = run.metrics().flatMap((m) => (m.type === 'step' && Array.isArray(m.examples) ? (m.examples as number[]) : []));
    expect(trained.length).toBeGreaterThan(0);
    expect(trained.filter((l) => [2, 9, 20].includes(l))).toEqual([]);
  });
});
