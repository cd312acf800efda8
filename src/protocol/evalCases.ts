// Evaluation cases (issue 16), defined once: a `*.evals.jsonl` file holds one case per line (a
// prompt or a conversation, and what is expected of the model's answer); running the cases on one
// or more models (base, adapter, merged, checkpoints) gives a report of outcomes, cases × models.
// Written by src/core/eval/cases/ (lora-lab test, the worker's `test` job, a run's end-of-run
// evaluation), read back by the host (Test Explorer, panel) through decodeCasesReport. Pure: the
// webview bundle imports this.
import type { StopReason } from './evaluation';
import { decoder, fail, Fields, type Decoder } from './decode';

/** Case files are named `<anything>.evals.jsonl`. */
export const CASES_SUFFIX = '.evals.jsonl';
/** A run keeps the latest report of each case file run on it as `<run>/evals/<name>.json` (name: the file's name without CASES_SUFFIX). */
export const RUN_CASES_DIR = 'evals';

export function isCaseFile(file: string): boolean {
  return file.toLowerCase().endsWith(CASES_SUFFIX);
}

/** `<run>/evals/<name>.json` for a case file (by its base name; path-free so it can be built in the webview). */
export function caseReportName(caseFile: string): string {
  const base = caseFile.split(/[\\/]/).pop() ?? caseFile;
  return `${isCaseFile(base) ? base.slice(0, -CASES_SUFFIX.length) : base}.json`;
}

/** A pattern: a JavaScript regular expression source, searched anywhere in the output (like Python's re.search). */
export interface RegexExpect {
  pattern: string;
  /** JavaScript flags, e.g. "i", "s", "m" ("g" and "y" are refused: they make test() stateful). */
  flags?: string;
}

/** What is expected of a case; every check given must pass. */
export interface Expect {
  /** The output contains each of these (case-sensitive). */
  contains?: string[];
  /** The output contains none of these. */
  notContains?: string[];
  regex?: RegexExpect;
  /** The output, trimmed, equals this, trimmed. */
  equals?: string;
  /** The output, with leading whitespace removed, starts with this. */
  startsWith?: string;
  /** Mean loss per token (nats) of the case's `completion` after its prompt, under the model, is at most this. */
  maxLoss?: number;
  /** The case's `completion` has a lower mean loss under the model than under the base model. */
  lowerLossThanBase?: boolean;
  /** The output (trimmed) parses as JSON. */
  json?: boolean;
}

export type CheckKind = keyof Expect;
export const CHECK_KINDS: readonly CheckKind[] = ['contains', 'notContains', 'regex', 'equals', 'startsWith', 'maxLoss', 'lowerLossThanBase', 'json'];
/** Checks on the generated text (they need a generation); the others score `completion`. */
export const OUTPUT_CHECKS: readonly CheckKind[] = ['contains', 'notContains', 'regex', 'equals', 'startsWith', 'json'];
export const LOSS_CHECKS: readonly CheckKind[] = ['maxLoss', 'lowerLossThanBase'];

export interface CaseSampling {
  temperature: number;
  /** Default 1. */
  topP?: number;
  /** Default 0. */
  seed?: number;
}

export interface CaseMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  [key: string]: unknown;
}

/** One case, as read from its line (shorthands normalised: a string `contains` is a list of one, a string `regex` a pattern without flags). */
export interface EvalCase {
  name: string;
  /** 1-based line in the case file. */
  line: number;
  /** Exactly one of prompt and messages. */
  prompt?: string;
  /** Rendered with the model's chat template and its generation prompt. */
  messages?: CaseMessage[];
  /** The reference answer scored by maxLoss / lowerLossThanBase (required by them). */
  completion?: string;
  expect: Expect;
  /** Default DEFAULT_CASE_MAX_NEW_TOKENS. */
  maxNewTokens?: number;
  /** Absent: greedy decoding (deterministic). */
  sampling?: CaseSampling;
}

export const DEFAULT_CASE_MAX_NEW_TOKENS = 64;

export type ModelKind = 'base' | 'adapter' | 'merged' | 'checkpoint';

/** A model the cases run on. */
export interface CaseModel {
  /** Unique in a report: "base", "adapter", "merged", "checkpoint last (step 80)", … */
  label: string;
  kind: ModelKind;
  /** The base model folder (for merged: the merged folder, or the base when merged in memory). */
  model: string;
  /** The adapter installed on `model` (adapter, checkpoint). */
  adapter?: string;
  /** How the merged model was obtained when not read from a folder: "in memory: …". */
  note?: string;
  /** A checkpoint's step. */
  step?: number;
}

export type CheckStatus = 'pass' | 'fail' | 'skip';
export interface CheckResult {
  kind: CheckKind;
  status: CheckStatus;
  /** What was expected, as the user wrote it ("contains \"Cynic\"", "loss ≤ 2.5"). */
  expected: string;
  /** What the model gave ("the output", "loss 3.12", "base loss 4.01, this model 3.50"). */
  actual: string;
  /** Why it was skipped, or why it failed, in a sentence. */
  message?: string;
}

/** pass: every check passed (skipped ones aside); fail: one failed; skip: all skipped; error: the case could not run (the message says why). */
export type CaseStatus = 'pass' | 'fail' | 'skip' | 'error';

export interface CaseOutput {
  /** Decoded, special tokens skipped. */
  text: string;
  ids: number[];
  stop: StopReason;
  ms: number;
}

export interface CaseOutcome {
  /** The case's name and line in the file. */
  case: string;
  line: number;
  /** CaseModel.label. */
  model: string;
  status: CaseStatus;
  checks: CheckResult[];
  /** The generation, when an output check needed one. */
  output?: CaseOutput;
  /** Mean loss per token of `completion` under this model, and under the base. */
  loss?: number;
  baseLoss?: number;
  /** Tokens of `completion` scored. */
  lossTokens?: number;
  /** status "error": what went wrong (bad template, prompt longer than the model's positions, …). */
  error?: string;
}

export interface CasesReport {
  formatVersion: 1;
  createdAt: string;
  /** The case file (absolute) and its SHA-256. */
  file: string;
  sha256: string;
  /** The run the models belong to, if any. */
  run?: string;
  models: CaseModel[];
  cases: { name: string; line: number }[];
  /** One per case × model, in case order then model order. */
  outcomes: CaseOutcome[];
  /** The model whose failures fail the whole (lora-lab test's exit code): "adapter" by default. */
  gate?: string;
  backend?: string;
  /** Wall time of the whole run of the cases (loading the base and scoring its losses included). */
  ms: number;
  /**
   * Wall time per model label: setting the model up (adapter installed, merged model loaded or
   * built), scoring its losses and generating its outputs. The real elapsed time of its column,
   * unlike the sum of its outputs' `ms` (outputs decoded in one batch share their seconds).
   * Absent in reports written before it was recorded.
   */
  modelMs?: Record<string, number>;
  notes: string[];
}

export function outcomeOf(r: CasesReport, caseName: string, model: string): CaseOutcome | undefined {
  return r.outcomes.find((o) => o.case === caseName && o.model === model);
}

/** One model's column of a report: each outcome counted once by status, errors apart from failures. */
export interface CaseTally {
  pass: number;
  /** A check failed. */
  fail: number;
  /** The case could not run on this model (its message says why). */
  error: number;
  skip: number;
  /** The report's cases: the denominator; a case with no outcome for this model counts here only ("not run"). */
  total: number;
  /** The one wording of it: "adapter 5/7 passed (1 failed, 1 error)", what is not zero in brackets. */
  line: string;
}

/** "adapter 5/7 passed (1 failed, 1 error, 1 skipped, 1 not run)": only the counts that are not zero in brackets. */
function tallyLine(label: string, c: Omit<CaseTally, 'line'>): string {
  const missing = c.total - c.pass - c.fail - c.error - c.skip;
  const extra = [
    c.fail && `${c.fail} failed`, c.error && `${c.error} ${c.error === 1 ? 'error' : 'errors'}`, c.skip && `${c.skip} skipped`, missing > 0 && `${missing} not run`,
  ].filter(Boolean);
  return `${label} ${c.pass}/${c.total} passed${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

/**
 * The pass/fail tally per model label, in the report's model order, with its one-line wording: what
 * the session's end-of-run line, lora-lab test, the Test Explorer's output and the panel show. The
 * cases are the report's and any an outcome names beyond them; an outcome given twice counts once.
 */
export function tally(r: CasesReport): Record<string, CaseTally> {
  const cases = new Set(r.cases.map((c) => `${c.line}\u0000${c.name}`));
  const status = new Map<string, CaseStatus>();
  for (const o of r.outcomes) {
    cases.add(`${o.line}\u0000${o.case}`);
    status.set(`${o.line}\u0000${o.case}\u0000${o.model}`, o.status);
  }
  const counts: Record<string, Omit<CaseTally, 'line'>> = {};
  for (const m of r.models) counts[m.label] = { pass: 0, fail: 0, error: 0, skip: 0, total: cases.size };
  for (const [key, s] of status) {
    const model = key.slice(key.lastIndexOf('\u0000') + 1);
    (counts[model] ??= { pass: 0, fail: 0, error: 0, skip: 0, total: cases.size })[s]++;
  }
  return Object.fromEntries(Object.entries(counts).map(([label, c]) => [label, { ...c, line: tallyLine(label, c) }]));
}

/**
 * The cases × models grid as text: a header row of model labels, then a row per case with each
 * model's mark (`missing` where the report has no outcome for it); names past `maxName`
 * characters are cut with "…". For the terminal (lora-lab test) and the Test Explorer's output.
 */
export function matrixText(r: CasesReport, marks: Record<CaseStatus, string>, missing: string, maxName = Number.POSITIVE_INFINITY): string[] {
  const nameWidth = Math.min(maxName, Math.max(4, ...r.cases.map((c) => c.name.length)));
  const widths = r.models.map((m) => Math.max(m.label.length, 1));
  const row = (name: string, cells: string[]) => `${(name.length > nameWidth ? `${name.slice(0, nameWidth - 1)}…` : name).padEnd(nameWidth)}  ${cells.map((c, i) => c.padEnd(widths[i])).join('  ')}`.trimEnd();
  return [
    row('case', r.models.map((m) => m.label)),
    ...r.cases.map((c) => row(c.name, r.models.map((m) => {
      const o = outcomeOf(r, c.name, m.label);
      return o ? marks[o.status] : missing;
    }))),
  ];
}

// --- Decoder -------------------------------------------------------------------------------------

const STOPS: readonly StopReason[] = ['eos', 'max-new-tokens', 'max-positions'];
const KINDS: readonly ModelKind[] = ['base', 'adapter', 'merged', 'checkpoint'];
const CHECK_STATUSES: readonly CheckStatus[] = ['pass', 'fail', 'skip'];
const CASE_STATUSES: readonly CaseStatus[] = ['pass', 'fail', 'skip', 'error'];

function caseModel(v: unknown, p: string): CaseModel {
  const f = Fields.of(v, p);
  const m: CaseModel = { label: f.str('label'), kind: f.oneOf('kind', KINDS), model: f.str('model') };
  const adapter = f.optStr('adapter');
  if (adapter !== undefined) m.adapter = adapter;
  const note = f.optStr('note');
  if (note !== undefined) m.note = note;
  const step = f.optNum('step');
  if (step !== undefined) m.step = step;
  return m;
}

function checkResult(v: unknown, p: string): CheckResult {
  const f = Fields.of(v, p);
  const kind = f.str('kind');
  if (!(CHECK_KINDS as readonly string[]).includes(kind)) fail(f.at('kind'), kind, `one of ${CHECK_KINDS.join(', ')}`);
  const c: CheckResult = { kind: kind as CheckKind, status: f.oneOf('status', CHECK_STATUSES), expected: f.str('expected'), actual: f.str('actual') };
  const message = f.optStr('message');
  if (message !== undefined) c.message = message;
  return c;
}

function caseOutcome(v: unknown, p: string): CaseOutcome {
  const f = Fields.of(v, p);
  const o: CaseOutcome = { case: f.str('case'), line: f.num('line'), model: f.str('model'), status: f.oneOf('status', CASE_STATUSES), checks: f.list('checks', checkResult) };
  const out = f.optObj('output');
  if (out) o.output = { text: out.str('text'), ids: out.numbers('ids'), stop: out.oneOf('stop', STOPS), ms: out.num('ms') };
  for (const k of ['loss', 'baseLoss', 'lossTokens'] as const) {
    const x = f.optNum(k);
    if (x !== undefined) o[k] = x;
  }
  const error = f.optStr('error');
  if (error !== undefined) o.error = error;
  return o;
}

/** One outcome as the worker's `caseOutcome` event carries it, parsed; or why it is not one. */
export const decodeCaseOutcome: Decoder<CaseOutcome> = decoder((v) => caseOutcome(v, ''));

/** `<run>/evals/<name>.json` (or lora-lab test --json's output), parsed; or why it is not one. */
export const decodeCasesReport: Decoder<CasesReport> = decoder((v) => {
  const f = Fields.of(v, '');
  if (f.raw.formatVersion !== 1) fail(f.at('formatVersion'), f.raw.formatVersion, '1 (written by another LoRA Lab version: run the cases again)');
  const r: CasesReport = {
    formatVersion: 1, createdAt: f.str('createdAt'), file: f.str('file'), sha256: f.str('sha256'),
    models: f.list('models', caseModel),
    cases: f.list('cases', (c, p) => {
      const cf = Fields.of(c, p);
      return { name: cf.str('name'), line: cf.num('line') };
    }),
    outcomes: f.list('outcomes', caseOutcome),
    ms: f.num('ms'), notes: f.strings('notes'),
  };
  for (const k of ['run', 'gate', 'backend'] as const) {
    const x = f.optStr(k);
    if (x !== undefined) r[k] = x;
  }
  const modelMs = f.optObj('modelMs');
  if (modelMs) r.modelMs = Object.fromEntries(Object.keys(modelMs.raw).map((label) => [label, modelMs.num(label)]));
  return r;
});
