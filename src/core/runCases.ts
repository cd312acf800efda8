// Evaluation cases on a run folder (issue 16): which models a run offers the cases — its base model,
// its adapter, its merged model (the `merged/` folder when it holds one, else built in memory), and
// with checkpoints each saved checkpoint — and where the report goes (`<run>/evals/<name>.json`,
// written atomically). runCaseFileOnRun is the whole job: read the case file, run it on the run's
// models, write the report. `lora-lab test --run`, the worker's test job and the end-of-run
// evaluation (session.ts) use it; src/core/eval may not import src/core/runs, so this sits here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackendReport } from './backend';
import { readCases } from './eval/cases/caseFile';
import { runCases, type RunCasesOptions } from './eval/cases/run';
import { ADAPTER_CONFIG } from './peft/adapterFolder';
import { resolveRunConfig } from './runConfig';
import { ADAPTER_DIR, RunDir } from './runs';
import { caseCheckpoints } from './runs/caseCheckpoints';
import { makeDirs, writeFileAtomic } from './util/durableFiles';
import { caseReportName, RUN_CASES_DIR, type CaseModel, type CasesReport, type ModelKind } from '../protocol/evalCases';

/** A run's merged model folder, as `lora-lab merge --run` and the panel's Merge write it. */
export const MERGED_DIR = 'merged';

/** The models a run offers by default: base, adapter and merged (checkpoints on request). */
export const DEFAULT_RUN_KINDS: readonly ModelKind[] = ['base', 'adapter', 'merged'];

const holdsAdapter = (dir: string) => fs.existsSync(path.join(dir, ADAPTER_CONFIG));
const holdsModel = (dir: string) => fs.existsSync(path.join(dir, 'config.json')) && fs.readdirSync(dir).some((f) => f.endsWith('.safetensors'));

/**
 * The run's models for the cases, in the report's column order (base, adapter, merged, then the
 * checkpoints oldest first), with notes for those it lacks. `kinds` limits them; `checkpoints`
 * (or 'checkpoint' among the kinds) adds every checkpoint folder that holds an adapter.
 */
export function runCaseModels(runDir: string, o: { kinds?: readonly ModelKind[]; checkpoints?: boolean } = {}): { models: CaseModel[]; notes: string[] } {
  const run = RunDir.open(runDir);
  const record = run.record();
  const config = resolveRunConfig(record.config);
  const kinds = new Set<ModelKind>(o.kinds ?? DEFAULT_RUN_KINDS);
  if (o.checkpoints) kinds.add('checkpoint');
  const models: CaseModel[] = [];
  const notes: string[] = [];
  const base = config.model;
  const adapter = path.join(run.dir, ADAPTER_DIR);
  const hasAdapter = holdsAdapter(adapter);
  if (kinds.has('base')) models.push({ label: 'base', kind: 'base', model: base });
  if (kinds.has('adapter')) {
    if (hasAdapter) models.push({ label: 'adapter', kind: 'adapter', model: base, adapter });
    else notes.push(`${adapter} holds no adapter (the run is ${record.status}; it is written when training ends): the adapter is not run${o.checkpoints ? '' : '; --checkpoints runs the saved checkpoints'}`);
  }
  if (kinds.has('merged')) {
    const merged = path.join(run.dir, MERGED_DIR);
    if (fs.existsSync(merged) && holdsModel(merged)) models.push({ label: 'merged', kind: 'merged', model: merged });
    else if (hasAdapter) {
      const note = 'in memory: the base merged with the adapter, as lora-lab merge writes it';
      models.push({ label: 'merged', kind: 'merged', model: base, adapter, note });
      notes.push(`merged model built ${note} (${merged} holds no model)`);
    } else notes.push('no merged model: the run has no adapter to merge');
  }
  if (kinds.has('checkpoint')) {
    const found = caseCheckpoints(run);
    if (found.length === 0) notes.push(`${run.checkpointsDir} holds no checkpoint with an adapter`);
    for (const c of found) models.push({ label: c.label, kind: 'checkpoint', model: base, adapter: c.dir, ...(c.step !== undefined ? { step: c.step } : {}) });
  }
  return { models, notes };
}

/** `<run>/evals/<name>.json` for a case file. */
export function runCasesReportPath(runDir: string, caseFile: string): string {
  return path.join(path.resolve(runDir), RUN_CASES_DIR, caseReportName(caseFile));
}

/** Writes the report into the run (atomically: a temp file renamed over it); returns its path. */
export function writeRunCasesReport(runDir: string, report: CasesReport): string {
  const file = runCasesReportPath(runDir, report.file);
  makeDirs(path.dirname(file));
  writeFileAtomic(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}

export type RunCaseFileOptions = Omit<RunCasesOptions, 'file' | 'cases' | 'models' | 'run'> & { kinds?: readonly ModelKind[]; checkpoints?: boolean };

/**
 * The whole job on a run: reads `caseFile` (CaseFileError lists every problem as file:line), runs
 * its cases on the run's models (runCaseModels) and writes the report into the run. The caller
 * holds the run's lock if it needs one (training does).
 */
export async function runCaseFileOnRun(runDir: string, caseFile: string, backend: BackendReport, o: Omit<RunCaseFileOptions, 'backend'> = {}): Promise<{ report: CasesReport; path: string }> {
  const cases = readCases(caseFile);
  const { models, notes } = runCaseModels(runDir, { kinds: o.kinds, checkpoints: o.checkpoints });
  if (models.length === 0) throw new Error(`${runDir} offers no model to run the cases on${notes.length ? `: ${notes.join('; ')}` : ''}`);
  const { kinds: _k, checkpoints: _c, ...rest } = o;
  const report = await runCases({ ...rest, file: caseFile, cases, models, backend, run: runDir, notes: [...notes, ...(o.notes ?? [])] });
  return { report, path: writeRunCasesReport(runDir, report) };
}
