// `lora-lab test`: evaluation cases (a *.evals.jsonl file) as tests, for CI. Runs every case on each
// model given (or a run's base, adapter, merged model and, with --checkpoints, its checkpoints),
// prints a pass/fail matrix (cases × models), the expected and actual of each failing case with its
// output, a tally per model; writes JUnit XML with --junit, prints the report with --json, and with
// --run keeps the report in the run (<run>/evals/<name>.json). Exit 0 when the gate model (default:
// the adapter, else merged, else base) passes every case, 1 when one fails or errors, 2 for bad
// usage or a case file with problems (each listed as file:line).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../core/backend';
import { CaseFileError, readCases } from '../core/eval/cases/caseFile';
import { junitXml } from '../core/eval/cases/junit';
import { defaultGate, gateFailures, runCases, selectCases } from '../core/eval/cases/run';
import { runCaseModels, writeRunCasesReport } from '../core/runCases';
import { matrixText, tally, type CaseModel, type CaseOutcome, type CasesReport, type CaseStatus } from '../protocol/evalCases';
import { BACKEND_CHOICES, backendFlag, CliUsageError, type CliCommand, optionalInt, optionalList, requireString } from './common';

const MARK: Record<CaseStatus, string> = { pass: '✓', fail: '✗', skip: '–', error: 'E' };

function show(text: string, max = 200): string {
  const s = JSON.stringify(text);
  return s.length > max ? `${s.slice(0, max - 1)}…"` : s;
}

/** The matrix: one row per case, one column per model (✓ pass, ✗ fail, – skipped, E error). */
export function formatMatrix(r: CasesReport): string[] {
  return matrixText(r, MARK, '?');
}

/** Each failing or erroring outcome: where the case is, what was expected and what came, and the output. */
export function formatFailures(r: CasesReport, rel: (f: string) => string = (f) => f): string[] {
  const lines: string[] = [];
  const bad = r.outcomes.filter((o) => o.status === 'fail' || o.status === 'error');
  for (const o of bad) {
    lines.push('', `${MARK[o.status]} ${o.case} on ${o.model} (${rel(r.file)}:${o.line})`);
    if (o.status === 'error') lines.push(`    error     ${o.error ?? 'unknown'}`);
    for (const c of o.checks.filter((x) => x.status === 'fail')) {
      lines.push(`    expected  ${c.expected}`, `    got       ${c.actual}${c.message ? ` — ${c.message}` : ''}`);
    }
    if (o.output) lines.push(`    output    ${show(o.output.text)}${o.output.stop === 'eos' ? ' <eos>' : o.output.stop === 'max-positions' ? ' <positions full>' : ''}`);
  }
  return lines;
}

/** A tally line per model (evalCases.tally's wording), the gate's marked. */
export function formatTally(r: CasesReport, gate: string): string[] {
  const t = tally(r);
  return r.models.map((m) => `${t[m.label].line}${m.label === gate ? '  (gate)' : ''}`);
}

function str(values: Record<string, unknown>, flag: string): string | undefined {
  const v = values[flag];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The models from --run, or from --model/--adapter/--merged. */
function modelsOf(values: Record<string, unknown>): { models: CaseModel[]; notes: string[]; run?: string } {
  const run = str(values, 'run');
  const model = str(values, 'model');
  if (run !== undefined) {
    if (model !== undefined || str(values, 'adapter') !== undefined || str(values, 'merged') !== undefined) {
      throw new CliUsageError('--run takes the run\'s base, adapter and merged model: give either --run or --model [--adapter] [--merged]');
    }
    return { ...runCaseModels(run, { checkpoints: values.checkpoints === true }), run };
  }
  if (values.checkpoints === true) throw new CliUsageError('--checkpoints needs --run (the checkpoints are a run\'s)');
  const base = requireString(values as Record<string, string | boolean | undefined>, 'model');
  const models: CaseModel[] = [{ label: 'base', kind: 'base', model: base }];
  const adapter = str(values, 'adapter');
  if (adapter !== undefined) models.push({ label: 'adapter', kind: 'adapter', model: base, adapter });
  const merged = str(values, 'merged');
  if (merged !== undefined) models.push({ label: 'merged', kind: 'merged', model: merged });
  return { models, notes: [] };
}

export const testCommand: CliCommand = {
  summary: 'Run evaluation cases (*.evals.jsonl) on a model, its adapter and merged model (or a run\'s): a pass/fail matrix, JUnit XML, exit 1 when the gate fails',
  synopsis: '--cases <file> (--model <dir> [--adapter <dir>] [--merged <dir>] | --run <dir> [--checkpoints]) [--only name,…] [--gate base|adapter|merged|<label>] [--junit <file>] [--json] [--batch n]',
  options: {
    cases: { type: 'string', valueName: 'file', description: 'The case file (*.evals.jsonl: one case per line)' },
    model: { type: 'string', valueName: 'dir', description: 'Base Hugging Face model folder' },
    adapter: { type: 'string', valueName: 'dir', description: 'PEFT adapter folder, run installed on the base' },
    merged: { type: 'string', valueName: 'dir', description: 'Merged model folder (e.g. from lora-lab merge)' },
    run: { type: 'string', valueName: 'dir', description: 'A LoRA Lab run folder: its base, adapter and merged model (merged/ if written, else built in memory); the report is also written to <run>/evals/<name>.json' },
    checkpoints: { type: 'boolean', description: 'With --run: also every saved checkpoint (last, best, …)' },
    only: { type: 'string', valueName: 'names', description: 'Run only these cases (comma-separated names)' },
    gate: { type: 'string', valueName: 'model', description: 'The model whose failing cases fail the command (a column label)', default: 'adapter, else merged, else base' },
    junit: { type: 'string', valueName: 'file', description: 'Write JUnit XML (a testsuite per model, a testcase per case) for CI' },
    json: { type: 'boolean', description: 'Print the report as one JSON object (decodeCasesReport reads it)' },
    batch: { type: 'string', valueName: 'n', description: 'Prompts generated together', default: '8' },
    backend: { type: 'string', valueName: 'name', description: `Backend: ${BACKEND_CHOICES.join(', ')}`, default: 'auto' },
    threads: { type: 'string', valueName: 'n', description: 'wasm threads (default: as many as useful)' },
  },
  async run(values) {
    const file = requireString(values, 'cases');
    if (!fs.existsSync(file)) throw new CliUsageError(`--cases ${file}: file not found`);
    let cases;
    try {
      cases = readCases(file);
    } catch (e) {
      if (!(e instanceof CaseFileError)) throw e;
      for (const p of e.problems) console.error(`${e.file}:${p.line}${p.column !== undefined ? `:${p.column}` : ''}: error: ${p.message}`);
      console.error(`lora-lab test: ${e.problems.length} problem${e.problems.length === 1 ? '' : 's'} in ${e.file}; fix ${e.problems.length === 1 ? 'it' : 'them'} and run again`);
      return 2;
    }
    const only = optionalList(values, 'only');
    try {
      selectCases(cases, only);
    } catch (e) {
      throw new CliUsageError(`--only: ${(e as Error).message}`);
    }
    const { models, notes, run } = modelsOf(values);
    if (models.length === 0) throw new Error(`no model to run the cases on: ${notes.join('; ')}`);
    const gate = str(values, 'gate') ?? defaultGate(models);
    if (!models.some((m) => m.label === gate)) throw new CliUsageError(`--gate ${gate}: no such model; the models are ${models.map((m) => m.label).join(', ')}`);
    const backend = await initBackend(backendFlag(values), { threads: optionalInt(values, 'threads', 1) });
    const report = await runCases({ file, cases, models, backend, only, gate, notes, batchSize: optionalInt(values, 'batch', 1), ...(run !== undefined ? { run, baseModel: models.find((m) => m.kind === 'base')?.model } : {}) });
    const written = run !== undefined ? writeRunCasesReport(run, report) : undefined;
    const junit = str(values, 'junit');
    if (junit !== undefined) {
      fs.mkdirSync(path.dirname(path.resolve(junit)), { recursive: true });
      fs.writeFileSync(junit, junitXml(report));
    }
    const failures = gateFailures(report, gate);
    if (values.json) console.log(JSON.stringify(report));
    else printReport(report, gate, failures, { written, junit });
    return failures.length > 0 ? 1 : 0;
  },
};

function printReport(r: CasesReport, gate: string, failures: CaseOutcome[], files: { written?: string; junit?: string }): void {
  const cwd = process.cwd();
  const rel = (f: string) => (path.isAbsolute(f) && f.startsWith(cwd + path.sep) ? path.relative(cwd, f) : f);
  console.log(`cases    ${rel(r.file)}: ${r.cases.length} case${r.cases.length === 1 ? '' : 's'} on ${r.models.map((m) => m.label).join(', ')}`);
  console.log(`backend  ${r.backend}`);
  console.log('');
  console.log(formatMatrix(r).join('\n'));
  const failing = formatFailures(r, rel);
  if (failing.length) console.log(failing.join('\n'));
  console.log('');
  console.log(formatTally(r, gate).join('\n'));
  for (const n of r.notes) console.log(`note: ${n}`);
  if (files.written) console.log(`report   ${rel(files.written)}`);
  if (files.junit) console.log(`junit    ${rel(files.junit)}`);
  console.log(failures.length ? `FAILED: ${failures.length} ${failures.length === 1 ? 'case fails' : 'cases fail'} on ${gate} (the gate) in ${(r.ms / 1000).toFixed(1)} s` : `ok: every case passes on ${gate} (the gate) in ${(r.ms / 1000).toFixed(1)} s`);
}
