// The Evaluation section's case matrix (issue 16), from a report as `lora-lab test --run` writes
// it (test/fixtures/cases/devil.json, written by hand after src/protocol/evalCases.ts): rows are
// the cases in file order with their lines, columns the models base, adapter, merged, then
// checkpoints by step; cells carry a symbol and a word; the tally per model is evalCases.tally's
// (errors apart, one wording shared with the session, lora-lab test and the Test Explorer); the gate's failures are marked; tooltips cut long outputs; the
// store keeps a run's reports from its detail and from a runCases notification (checked there).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeCasesReport, tally, type CasesReport } from '../../src/protocol/evalCases';
import type { RunDetail, RunSummary } from '../../src/protocol/panel';
import { casesEmptyHint, casesEntries, casesMatrix, cellFacts, gateLabel, orderModels, STATUS_SYMBOL, TOOLTIP_OUTPUT_CHARS, truncate } from '../../webview/casesMatrix';
import { initialState, reduce, type State } from '../../webview/store';
import { describeTally } from '../../src/core/eval/cases/run';
import { formatTally } from '../../src/cli/test';
import { matrixLines } from '../../src/host/evalTestText';

const FIXTURE = path.join(__dirname, '../fixtures/cases/devil.json');

function report(): CasesReport {
  const d = decodeCasesReport(JSON.parse(fs.readFileSync(FIXTURE, 'utf8')));
  if (!d.ok) throw new Error(d.error);
  return d.value;
}

describe('casesMatrix', () => {
  it('orders models base, adapter, merged, then checkpoints by step', () => {
    const r = report();
    expect(orderModels(r.models).map((m) => m.label)).toEqual(['base', 'adapter', 'merged', 'checkpoint best (step 40)', 'checkpoint last (step 80)']);
    expect(casesMatrix('devil.json', r).columns.map((c) => c.label)).toEqual(orderModels(r.models).map((m) => m.label));
  });

  it('has one row per case in file order, with the line, and a cell per model with symbol and word', () => {
    const m = casesMatrix('devil.json', report());
    expect(m.rows.map((r) => `${r.name}:${r.line}`)).toEqual(['defines cynic:1', 'json answer:2', 'completion likelier:3', 'chat template:5']);
    const [cynic, json, likelier, chat] = m.rows;
    expect(cynic.cells.map((c) => c.symbol)).toEqual(['✗', '✓', '✓', '✓', '✓']);
    expect(json.cells.map((c) => c.text)).toEqual(['failed', 'failed', 'passed', 'failed', 'failed']);
    expect(likelier.cells[0]).toMatchObject({ status: 'skip', symbol: '–', text: 'skipped' });
    expect(chat.cells.every((c) => c.status === 'error' && c.symbol === '!')).toBe(true);
    expect(STATUS_SYMBOL.missing).not.toBe(STATUS_SYMBOL.skip);
  });

  it('tallies each model with evalCases.tally: its counts (errors apart from failures) and its line', () => {
    const r = report();
    const m = casesMatrix('devil.json', r);
    const t = tally(r);
    for (const c of m.columns) {
      const { line, ...counts } = t[c.label];
      expect({ pass: c.pass, fail: c.fail, error: c.error, skip: c.skip, total: c.total }).toEqual(counts);
      expect(c.tally).toBe(line);
      expect(c.total).toBe(4);
    }
    const adapter = m.columns.find((c) => c.label === 'adapter');
    expect(adapter?.tally).toBe('adapter 2/4 passed (1 failed, 1 error)');
    expect(m.columns[0].tally).toBe('base 0/4 passed (2 failed, 1 error, 1 skipped)');
  });

  it('marks the gate model (the report’s gate, else the adapter) and its failed and errored cells', () => {
    const r = report();
    expect(gateLabel(r)).toBe('adapter');
    expect(gateLabel({ ...r, gate: 'merged' })).toBe('merged');
    expect(gateLabel({ ...r, gate: 'checkpoint' })).toBe('checkpoint last (step 80)'); // a kind: the first of it in the report
    expect(gateLabel({ ...r, gate: undefined, models: r.models.filter((x) => x.kind === 'base') })).toBeUndefined();
    const m = casesMatrix('devil.json', r);
    expect(m.gateFailures).toBe(2);
    const marked = m.rows.flatMap((row) => row.cells.filter((c) => c.gateFail).map((c) => `${row.name}/${c.model}`));
    expect(marked).toEqual(['json answer/adapter', 'chat template/adapter']);
    expect(m.columns.filter((c) => c.gate).map((c) => c.label)).toEqual(['adapter']);
  });

  it('the header: the case file’s name, when it ran, how long', () => {
    const m = casesMatrix('devil.json', report());
    expect(m.fileName).toBe('devil.evals.jsonl');
    expect(m.file).toBe('/ws/samples/datasets/devil/devil.evals.jsonl');
    expect(m.ranAt).toMatch(/^2026-12-0[34] \d\d:\d\d$/); // local time
    expect(m.took).toBe('5.2s');
  });

  it('cuts long outputs in the tooltip, keeps them whole in the outcome, says expected vs got and the losses', () => {
    const m = casesMatrix('devil.json', report());
    const cell = m.rows[0].cells[1];
    const text = cell.outcome?.output?.text ?? '';
    expect(text.length).toBeGreaterThan(TOOLTIP_OUTPUT_CHARS);
    expect(cell.tooltip).toContain(JSON.stringify(truncate(text, TOOLTIP_OUTPUT_CHARS)));
    expect(cell.tooltip).not.toContain(text);
    expect(cell.tooltip.split('\n')[0]).toBe('defines cynic (line 1) on adapter: passed');
    expect(cell.tooltip).toContain('✓ contains "blackguard" — got the output');
    const failed = m.rows[1].cells[1];
    expect(failed.tooltip.split('\n')[0]).toBe('json answer (line 2) on adapter: failed — the gate model');
    expect(failed.tooltip).toContain('✗ valid JSON — got not JSON (Unexpected token w in JSON at position 0)');
    const loss = m.rows[2].cells[1];
    expect(loss.tooltip).toContain('loss 3.12 · base loss 4.01 · 12 tokens');
    expect(m.rows[3].cells[0].tooltip).toContain('Error: the model has no chat template');
  });

  it('an expanded cell lists the losses and their difference, and the generation’s stop, length and time', () => {
    const m = casesMatrix('devil.json', report());
    expect(cellFacts(m.rows[2].cells[1].outcome!)).toEqual([['Loss', '3.12'], ['Base loss', '4.01'], ['Difference', '−0.89'], ['Tokens scored', '12']]);
    const gen = cellFacts(m.rows[0].cells[1].outcome!);
    expect(gen.map(([k]) => k)).toEqual(['Stopped by', 'Tokens generated', 'Time']);
    expect(gen[0][1]).toBe('max-new-tokens');
  });

  it('truncate leaves short text alone and says how much was cut', () => {
    expect(truncate('abc', 5)).toBe('abc');
    expect(truncate('abcdefgh', 5)).toBe('abcde… (3 more characters)');
  });

  it('a cell the report has no outcome for is "not run", and a case named only by outcomes still gets a row', () => {
    const r = report();
    const cut = { ...r, cases: r.cases.slice(0, 3), outcomes: r.outcomes.filter((o) => !(o.line === 1 && o.model === 'merged')) };
    const m = casesMatrix('devil.json', cut);
    expect(m.rows.map((x) => x.line)).toEqual([1, 2, 3, 5]);
    const merged = m.rows[0].cells.find((c) => c.model === 'merged');
    expect(merged).toMatchObject({ status: 'missing', text: 'not run' });
    expect(m.columns.find((c) => c.label === 'merged')).toMatchObject({ pass: 2, total: 4, tally: 'merged 2/4 passed (1 error, 1 not run)' });
  });

  it('evalCases.tally: an outcome given twice counts once (the last), a model without outcomes is all "not run"', () => {
    const r = report();
    const again = r.outcomes.find((o) => o.model === 'base' && o.line === 1)!;
    const t = tally({ ...r, models: [...r.models, { label: 'extra', kind: 'base', model: '/m' }], outcomes: [...r.outcomes, { ...again, status: 'pass' }] });
    expect(t.base).toMatchObject({ pass: 1, fail: 1, error: 1, skip: 1, total: 4, line: 'base 1/4 passed (1 failed, 1 error, 1 skipped)' });
    expect(t.extra.line).toBe('extra 0/4 passed (4 not run)');
  });

  it('one wording of a tally: the session\'s end-of-run line, lora-lab test, the Test Explorer output and the panel show evalCases.tally\'s line', () => {
    const r = report();
    const lines = r.models.map((m) => tally(r)[m.label].line);
    expect(describeTally(r)).toBe(`cases: ${lines.join(' · ')}`);
    expect(formatTally(r, 'adapter')).toEqual(lines.map((l) => (l.startsWith('adapter ') ? `${l}  (gate)` : l)));
    expect(matrixLines(r).at(-1 - r.notes.length)).toBe(lines.join(' · '));
    expect(casesMatrix('devil.json', r).columns.map((c) => c.tally).sort()).toEqual([...lines].sort());
  });

  it('entries: a matrix per report, one line with file and reason for one that could not be used', () => {
    const entries = casesEntries([{ name: 'devil.json', report: report() }, { name: 'broken.json', error: 'evals/broken.json is not valid JSON (Unexpected end of JSON input); run the cases again to rewrite it' }]);
    expect(entries.map((e) => ('matrix' in e ? `matrix ${e.name}` : e.error))).toEqual(['matrix devil.json', 'evals/broken.json is not valid JSON (Unexpected end of JSON input); run the cases again to rewrite it']);
    expect(casesEntries(undefined)).toEqual([]);
    const hint = casesEmptyHint('/ws/.lora-lab/runs/r1');
    expect(hint.text).toBe('No evaluation cases yet: add a *.evals.jsonl file and run it from the Test Explorer, or lora-lab test --cases <file> --run <run folder>.');
    expect(hint.text.length).toBeLessThanOrEqual(140); // one line of the section
    expect(hint.title).toBe('lora-lab test --cases <file>.evals.jsonl --run /ws/.lora-lab/runs/r1');
  });
});

describe('store: a run’s case reports', () => {
  const summary: RunSummary = { id: 'r1', dir: '/ws/.lora-lab/runs/r1', name: 'r1', status: 'completed', createdAt: '2026-12-03T16:00:00Z', model: '/m', dataset: '/d' };
  const detail = (cases?: RunDetail['cases']): RunDetail => ({ summary, record: { id: 'r1', dir: summary.dir } as RunDetail['record'], metrics: [], ...(cases && { cases }) });
  const loaded = (cases?: RunDetail['cases']): State => reduce({ ...initialState, runs: [summary], runsLoaded: true }, { type: 'runDetail', detail: detail(cases) });

  it('keeps the reports of a run’s detail', () => {
    const s = loaded([{ name: 'devil.json', report: report() }]);
    expect(s.runData.r1.cases?.[0].name).toBe('devil.json');
  });

  it('replaces them with a runCases notification (a new Test Explorer run), checked on the way in', () => {
    const s = reduce(loaded(), { type: 'runCases', runId: 'r1', cases: [{ name: 'devil.json', report: report() }] });
    expect(s.runData.r1.cases?.[0].report?.outcomes.length).toBe(20);
    const bad = reduce(loaded(), { type: 'runCases', runId: 'r1', cases: [{ name: 'devil.json', report: { formatVersion: 2 } }] as never });
    expect(bad.runData.r1.cases).toHaveLength(1);
    expect(bad.runData.r1.cases?.[0].error).toMatch(/^The case reports sent for run r1 could not be read: "cases\[0\]\.report" .*"formatVersion" is 2, expected 1/);
  });

  it('ignores runCases for a run the panel holds nothing of (its detail brings them when asked for)', () => {
    const s0 = loaded();
    expect(reduce(s0, { type: 'runCases', runId: 'other', cases: [] })).toBe(s0);
  });
});
