// The evaluation-case matrix of the Evaluation section (issue 16), as data: one matrix per case
// report of a run (`<run>/evals/<name>.json`), rows = cases (name, line), columns = models (base,
// adapter, merged, checkpoints by step), cells = outcomes with a symbol and a word (not colour
// alone), a tally per model, the gate model's failures marked, and each cell's tooltip (outputs
// truncated) and expanded detail (the whole output, the checks, the losses). Pure: no DOM.
import { tally, type CaseModel, type CaseOutcome, type CaseStatus, type CasesReport, type CheckStatus, type ModelKind } from '../src/protocol/evalCases';
import type { RunCaseReport } from '../src/protocol/panel';
import { baseName, fmtDate, fmtDuration, fmtLoss } from './format';

/** A cell with no outcome in the report (a report cut short) is `missing`. */
export type CellStatus = CaseStatus | 'missing';

export const STATUS_SYMBOL: Record<CellStatus, string> = { pass: '✓', fail: '✗', skip: '–', error: '!', missing: '·' };
export const STATUS_TEXT: Record<CellStatus, string> = { pass: 'passed', fail: 'failed', skip: 'skipped', error: 'error', missing: 'not run' };
const CHECK_SYMBOL: Record<CheckStatus, string> = { pass: '✓', fail: '✗', skip: '–' };

/** Outputs longer than this are cut in the tooltip (the expanded cell shows them whole). */
export const TOOLTIP_OUTPUT_CHARS = 200;

export interface MatrixColumn {
  label: string;
  kind: ModelKind;
  /** The model whose failures fail the whole (lora-lab test's exit code). */
  gate: boolean;
  pass: number;
  fail: number;
  error: number;
  skip: number;
  /** Cases (rows), the denominator of the tally. */
  total: number;
  /** evalCases.tally's line: "adapter 5/7 passed", with the failures, errors, skips and cases not run when there are some. */
  tally: string;
  /** What the model is: its folder, adapter, note, step. */
  title: string;
}

export interface MatrixCell {
  /** Unique in the matrix: `<case line>|<model>` (for the expanded cell). */
  key: string;
  model: string;
  status: CellStatus;
  symbol: string;
  text: string;
  /** A failed or errored case on the gate model: marked more strongly. */
  gateFail: boolean;
  outcome?: CaseOutcome;
  /** The hover text: status, checks, output (truncated), losses, error. */
  tooltip: string;
}

export interface MatrixRow {
  name: string;
  line: number;
  cells: MatrixCell[];
}

export interface CasesMatrix {
  /** The report's file name in `<run>/evals/`. */
  name: string;
  /** The case file's name ("devil.evals.jsonl") and its full path. */
  fileName: string;
  file: string;
  /** When the cases were run, as shown ("2026-12-03 16:40"), and how long they took. */
  ranAt: string;
  took: string;
  columns: MatrixColumn[];
  rows: MatrixRow[];
  /** Cases failed (or errored) on the gate model. */
  gateFailures: number;
  gate?: string;
  notes: string[];
}

/** One `<run>/evals/` file as the section shows it: a matrix, or the one line saying which file failed and why. */
export type CasesEntry = { name: string; matrix: CasesMatrix } | { name: string; error: string };

const KIND_ORDER: Record<ModelKind, number> = { base: 0, adapter: 1, merged: 2, checkpoint: 3 };

/** Models in the order base, adapter, merged, then checkpoints by step (the report's order within a kind). */
export function orderModels(models: readonly CaseModel[]): CaseModel[] {
  return models
    .map((m, i) => ({ m, i }))
    .sort((a, b) => KIND_ORDER[a.m.kind] - KIND_ORDER[b.m.kind] || (a.m.step ?? Infinity) - (b.m.step ?? Infinity) || a.i - b.i)
    .map((x) => x.m);
}

/** The gate model's label: the report's `gate` (a label, or a kind), else the adapter when there is one. */
export function gateLabel(report: CasesReport): string | undefined {
  const want = report.gate ?? 'adapter';
  return report.models.find((m) => m.label === want)?.label ?? report.models.find((m) => m.kind === want)?.label;
}

/** Text cut to `max` characters with an ellipsis and how much was left out. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

function modelTitle(m: CaseModel): string {
  const parts = [`${m.label} (${m.kind})`, `model: ${m.model}`];
  if (m.adapter) parts.push(`adapter: ${m.adapter}`);
  if (m.step !== undefined) parts.push(`step ${m.step}`);
  if (m.note) parts.push(m.note);
  return parts.join('\n');
}

/** The losses of an outcome, as shown: "loss 3.120 · base loss 4.010 · 12 tokens". */
export function lossLine(o: CaseOutcome): string | undefined {
  const parts: string[] = [];
  if (o.loss !== undefined) parts.push(`loss ${fmtLoss(o.loss)}`);
  if (o.baseLoss !== undefined) parts.push(`base loss ${fmtLoss(o.baseLoss)}`);
  if (o.lossTokens !== undefined) parts.push(`${o.lossTokens} tokens`);
  return parts.length ? parts.join(' · ') : undefined;
}

/** A cell's hover text; the output is cut to TOOLTIP_OUTPUT_CHARS. */
export function cellTooltip(caseName: string, line: number, model: string, o: CaseOutcome | undefined, gate: boolean): string {
  const status = o?.status ?? 'missing';
  const lines = [`${caseName} (line ${line}) on ${model}: ${STATUS_TEXT[status]}${gate && (status === 'fail' || status === 'error') ? ' — the gate model' : ''}`];
  if (!o) return `${lines[0]}\nThe report has no outcome for this case on this model.`;
  if (o.error) lines.push(`Error: ${o.error}`);
  for (const c of o.checks) lines.push(`${CHECK_SYMBOL[c.status]} ${c.expected} — got ${c.actual}${c.message ? ` (${c.message})` : ''}`);
  if (o.output) lines.push(`Output: ${JSON.stringify(truncate(o.output.text, TOOLTIP_OUTPUT_CHARS))}`);
  const loss = lossLine(o);
  if (loss) lines.push(loss);
  lines.push('Enter or click: the whole output and checks');
  return lines.join('\n');
}

/** A case report as a matrix. */
export function casesMatrix(name: string, report: CasesReport): CasesMatrix {
  const models = orderModels(report.models);
  const gate = gateLabel(report);
  // Cases in the report's order; a case named only by outcomes (an older writer) is added after.
  const cases = [...report.cases];
  for (const o of report.outcomes) if (!cases.some((c) => c.name === o.case && c.line === o.line)) cases.push({ name: o.case, line: o.line });
  const byKey = new Map<string, CaseOutcome>();
  for (const o of report.outcomes) byKey.set(`${o.line}|${o.case}|${o.model}`, o);
  const rows: MatrixRow[] = cases.map((c) => ({
    name: c.name,
    line: c.line,
    cells: models.map((m) => {
      const outcome = byKey.get(`${c.line}|${c.name}|${m.label}`);
      const status: CellStatus = outcome?.status ?? 'missing';
      const isGate = m.label === gate;
      return {
        key: `${c.line}|${m.label}`, model: m.label, status, symbol: STATUS_SYMBOL[status], text: STATUS_TEXT[status],
        gateFail: isGate && (status === 'fail' || status === 'error'), ...(outcome && { outcome }),
        tooltip: cellTooltip(c.name, c.line, m.label, outcome, isGate),
      };
    }),
  }));
  const t = tally(report);
  const columns: MatrixColumn[] = models.map((m) => {
    const { line, ...c } = t[m.label];
    return { label: m.label, kind: m.kind, gate: m.label === gate, ...c, tally: line, title: modelTitle(m) };
  });
  const gateColumn = columns.find((c) => c.gate);
  return {
    name, fileName: baseName(report.file), file: report.file, ranAt: fmtDate(report.createdAt), took: fmtDuration(report.ms),
    columns, rows, gateFailures: gateColumn ? gateColumn.fail + gateColumn.error : 0, ...(gate !== undefined && { gate }), notes: report.notes,
  };
}

/** A run's case reports as the section shows them, by file name. */
export function casesEntries(cases: readonly RunCaseReport[] | undefined): CasesEntry[] {
  return (cases ?? []).map((c): CasesEntry => {
    if (c.report) return { name: c.name, matrix: casesMatrix(c.name, c.report) };
    return { name: c.name, error: c.error ?? `evals/${c.name} holds no report` };
  });
}

/** The one line shown when a run has no case reports: how to get one (short enough for one line; the command for this run is its title). */
export function casesEmptyHint(runDir: string | undefined): { text: string; title: string } {
  return {
    text: 'No evaluation cases yet: add a *.evals.jsonl file and run it from the Test Explorer, or lora-lab test --cases <file> --run <run folder>.',
    title: `lora-lab test --cases <file>.evals.jsonl --run ${runDir ?? '<run folder>'}`,
  };
}

/** What an expanded cell shows besides the output: facts as label/value pairs. */
export function cellFacts(o: CaseOutcome): [string, string][] {
  const facts: [string, string][] = [];
  if (o.loss !== undefined) facts.push(['Loss', fmtLoss(o.loss)]);
  if (o.baseLoss !== undefined) facts.push(['Base loss', fmtLoss(o.baseLoss)]);
  if (o.loss !== undefined && o.baseLoss !== undefined) facts.push(['Difference', `${o.loss - o.baseLoss <= 0 ? '−' : '+'}${fmtLoss(Math.abs(o.loss - o.baseLoss))}`]);
  if (o.lossTokens !== undefined) facts.push(['Tokens scored', String(o.lossTokens)]);
  if (o.output) {
    facts.push(['Stopped by', o.output.stop]);
    facts.push(['Tokens generated', String(o.output.ids.length)]);
    facts.push(['Time', fmtDuration(o.output.ms)]);
  }
  return facts;
}
