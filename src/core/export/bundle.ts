// `lora-lab export --to trl`: a run as a self-contained folder for TRL + Accelerate (train.py, the
// run's tokenized data and its validation rows, run.json, requirements, Accelerate configs,
// launch.sh, slurm.sbatch, README.md, and lora-lab-bundle.json naming what was written). The
// folder is built aside and swapped in whole, so a failed export leaves the old one intact.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Example } from '../data';
import { commitDirAtomically } from '../util/durableFiles';
import { loraLabVersion } from '../util/version';
import { factsMarkdown, runFacts } from '../hf/modelCard';
import { decodeEvalReport, EVAL_FILE } from '../../protocol/evaluation';
import { decodeRunRecord } from '../../protocol/runRecord';
import { ACCELERATE_CONFIGS, bundleReadme, LAUNCH_SH, requirementsTxt, slurmSbatch, TRL_REQUIREMENTS } from './launchFiles';
import { renderTrainPy } from './trainPy';
import { lossTokens, sha256Text, trlJsonl } from './trlData';
import { trlPlan, type TrlPlan } from './trlPlan';
import { patternRecord, type RunConfig } from '../../protocol/runConfig';

/** The manifest every bundle carries; --force replaces only folders that hold one. */
export const BUNDLE_MANIFEST = 'lora-lab-bundle.json';
export const BUNDLE_FORMAT_VERSION = 1;

/** A usage problem with the export's target (exit code 2 in the CLI). */
export class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}

export interface TrlBundleInput {
  /** The run folder (its run.json is copied). */
  runDir: string;
  runId: string;
  config: RunConfig;
  train: readonly Example[];
  valid: readonly Example[];
  padId: number;
  /** Hub id or folder written into train.py; default the run's model folder. */
  baseModel?: string;
  out: string;
  force?: boolean;
  /** Lines for the README's Notes (e.g. what the run did that the bundle cannot). */
  notes?: string[];
}

export interface TrlBundleResult {
  dir: string;
  files: string[];
  plan: TrlPlan;
}

/** Refuses an `out` that is a file, a non-empty folder (without --force), or a non-bundle folder even with --force. */
export function checkBundleTarget(out: string, runDir: string, force: boolean): void {
  const abs = path.resolve(out);
  const run = path.resolve(runDir);
  if (abs === run || abs.startsWith(run + path.sep) || run.startsWith(abs + path.sep)) {
    throw new ExportError(`--out ${out} is the run folder, inside it or above it; choose a folder outside ${run}.`);
  }
  if (!fs.existsSync(abs)) return;
  if (!fs.statSync(abs).isDirectory()) throw new ExportError(`--out ${out} is a file; give a folder (new, or a previous bundle with --force).`);
  if (fs.readdirSync(abs).length === 0) return;
  if (!force) throw new ExportError(`--out ${out} is not empty; pass --force to replace a previous bundle there, or choose a new folder.`);
  if (!fs.existsSync(path.join(abs, BUNDLE_MANIFEST))) {
    throw new ExportError(`--out ${out} is not empty and holds no ${BUNDLE_MANIFEST}, so it is not a LoRA Lab bundle; --force replaces only bundles. Choose a new folder.`);
  }
}

/** The model cards' facts about the source run (run.json, eval.json when present) for the README; undefined when run.json does not decode. */
function sourceFacts(input: TrlBundleInput, baseModel: string): string | undefined {
  const read = (file: string): unknown => {
    try {
      return JSON.parse(fs.readFileSync(path.join(input.runDir, file), 'utf8'));
    } catch {
      return undefined;
    }
  };
  const rec = decodeRunRecord({ id: input.runId, dir: path.resolve(input.runDir) })(read('run.json'));
  if (!rec.ok) return undefined;
  const ev = decodeEvalReport(read(EVAL_FILE));
  const { version, ...facts } = runFacts(rec.value, input.config, ev.ok ? ev.value : undefined);
  const l = input.config.lora;
  const lora = { r: l.r, alpha: l.alpha, dropout: l.dropout, targets: l.targetModules ?? "PEFT's default for the architecture", rslora: l.useRslora, dora: l.useDora, layers: l.layers, rankPattern: patternRecord(l.rankPattern), alphaPattern: patternRecord(l.alphaPattern) };
  return factsMarkdown({ baseModel, lora, ...facts, version: version ?? loraLabVersion() });
}

/** Writes the bundle for one run; returns its folder, the files written (sorted, relative) and the plan. */
export function writeTrlBundle(input: TrlBundleInput): TrlBundleResult {
  checkBundleTarget(input.out, input.runDir, input.force ?? false);
  if (input.train.length === 0) throw new ExportError(`${input.runDir}: the run has no training examples to export.`);
  const plan = trlPlan(input.config, input.train.length);
  const baseModel = input.baseModel ?? input.config.model;
  const trainText = trlJsonl(input.train);
  const validText = trlJsonl(input.valid);
  const trainSha = sha256Text(trainText);
  const validSha = sha256Text(validText);
  const files: Record<string, string> = {
    'train.py': renderTrainPy({ plan, runId: input.runId, baseModel, padId: input.padId, validLossTokens: lossTokens(input.valid) }),
    'data/train.jsonl': trainText,
    'data/valid.jsonl': validText,
    'data/SHA256SUMS': `${trainSha}  train.jsonl\n${validSha}  valid.jsonl\n`,
    'run.json': fs.readFileSync(path.join(input.runDir, 'run.json'), 'utf8'),
    'requirements.txt': requirementsTxt(),
    'launch.sh': LAUNCH_SH,
    'slurm.sbatch': slurmSbatch(input.runId),
    'README.md': bundleReadme({
      runId: input.runId, baseModel, plan, notes: input.notes ?? [],
      train: { examples: input.train.length, sha256: trainSha }, valid: { examples: input.valid.length, sha256: validSha },
      facts: sourceFacts(input, baseModel),
    }),
  };
  for (const [name, text] of Object.entries(ACCELERATE_CONFIGS)) files[`accelerate/${name}.yaml`] = text;
  const manifest = {
    formatVersion: BUNDLE_FORMAT_VERSION, to: 'trl', runId: input.runId, runDir: path.resolve(input.runDir), baseModel,
    exportedAt: new Date().toISOString(), effectiveBatch: plan.effectiveBatch,
    batchSplits: plan.batchSplits, totalSteps: plan.totalSteps,
    data: { train: { examples: input.train.length, sha256: trainSha }, valid: { examples: input.valid.length, sha256: validSha } },
    requirements: TRL_REQUIREMENTS, files: [...Object.keys(files), BUNDLE_MANIFEST].sort(),
  };
  files[BUNDLE_MANIFEST] = `${JSON.stringify(manifest, null, 2)}\n`;

  const abs = path.resolve(input.out);
  const dir = commitDirAtomically(path.dirname(abs), path.basename(abs), (tmp) => {
    for (const [name, text] of Object.entries(files)) {
      const file = path.join(tmp, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text, { mode: name.endsWith('.sh') || name.endsWith('.py') || name.endsWith('.sbatch') ? 0o755 : 0o644 });
    }
  });
  return { dir, files: Object.keys(files).sort(), plan };
}
