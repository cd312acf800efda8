// `lora-lab import`: a TRL bundle's train.py output brought back as a LoRA Lab run, so the runs list,
// the panel's curves and `lora-lab eval --run` treat it like a local one. The output folder is read
// and checked by export/trlOutput.ts; here the adapter is checked against the base model
// (peft/checkPeftAdapter), and the run is made through RunDir.create (same ids, lock and atomic
// writes as a trained run): run.json with source "trl", the source run's config with what the
// cluster run changed, metrics.jsonl row by row, the adapter's files byte for byte into adapter/.
// No eval.json: the run is evaluated like any other (the caller prints the command).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUNDLE_MANIFEST, ImportError, readTrlOutput, type TrlOutput } from './export';
import { fingerprintModel } from './hf/fingerprint';
import { readConfig } from './hf/config';
import { checkPeftAdapter } from './peft/adapterFolder';
import { listRuns, RunDir, type RunRecord } from './runs';
import { isRecord } from '../protocol/decode';
import type { MetricsLine } from '../protocol/metrics';

export interface ImportTrlOptions {
  /** The train.py output folder (--output-dir; default <bundle>/output). */
  output: string;
  /** The runs root to create the run in (runsRoot(workspace, setting)). */
  runsRoot: string;
  /** The run's name; default "<source run id> (TRL)". */
  name?: string;
  /** Replace an earlier import with the same name (never a run LoRA Lab trained). */
  force?: boolean;
  /** The bundle folder, when it is neither named by lora-lab-output.json nor the output folder's parent. */
  bundle?: string;
  /** The base model folder on this machine; default the source run's. */
  model?: string;
}

export interface ImportTrlResult {
  run: RunDir;
  record: RunRecord;
  output: TrlOutput;
  /** Files copied into <run>/adapter, sorted. */
  adapterFiles: string[];
  /** The earlier import that --force replaced. */
  replaced?: string;
}

/** When training ran, from the rows' wall-clock stamps: the first step's time less its elapsed time, to the last row. */
function timesOf(rows: readonly MetricsLine[]): { startedAt?: string; endedAt?: string; durationMs?: number } {
  const stamped = rows.filter((r): r is Extract<MetricsLine, { time: string }> => 'time' in r && Number.isFinite(Date.parse(r.time)));
  const first = stamped.find((r) => r.type === 'step');
  const last = stamped.at(-1);
  if (!first || !last || first.type !== 'step') return {};
  const start = Date.parse(first.time) - first.elapsedMs;
  const end = Date.parse(last.time);
  return { startedAt: new Date(start).toISOString(), endedAt: new Date(end).toISOString(), durationMs: Math.max(0, end - start) };
}

/** finalStep, bestValLoss and bestStep as a trained run's summary holds them. */
function summaryOf(rows: readonly MetricsLine[]): Record<string, unknown> {
  let finalStep: number | undefined;
  let best: { loss: number; step: number } | undefined;
  for (const r of rows) {
    if (r.type === 'step') finalStep = r.step;
    if (r.type === 'eval' && Number.isFinite(r.valLoss) && (!best || r.valLoss < best.loss)) best = { loss: r.valLoss, step: r.step };
  }
  return { finalStep, bestValLoss: best?.loss ?? null, bestStep: best?.step ?? null, stoppedEarly: false };
}

/**
 * The source config with the steps the cluster run took, when they differ from the bundle's plan,
 * and the run's name as config.name (the user's name, which run labels show first: "… (TRL)").
 */
function configOf(source: RunRecord, out: TrlOutput, name: string): unknown {
  const config = structuredClone(source.config);
  if (isRecord(config)) config.name = name;
  const manifest = out.bundleDir ? JSON.parse(fs.readFileSync(path.join(out.bundleDir, BUNDLE_MANIFEST), 'utf8')) as unknown : undefined;
  const planned = isRecord(manifest) && typeof manifest.totalSteps === 'number' ? manifest.totalSteps : undefined;
  const ran = out.cluster.maxSteps;
  if (isRecord(config) && isRecord(config.training) && typeof ran === 'number' && ran !== planned) config.training.maxSteps = ran;
  return config;
}

/** Refuses: no bundle found, a base model missing here, an adapter for another base, a taken name. */
export function importTrlRun(opts: ImportTrlOptions): ImportTrlResult {
  const out = readTrlOutput(opts.output, opts.bundle);
  const source = out.source;
  if (!source) {
    throw new ImportError(`${out.dir}: no bundle found (neither ${path.join(path.dirname(out.dir), BUNDLE_MANIFEST)} nor the "bundle" of lora-lab-output.json exists); pass --bundle <the folder "lora-lab export" wrote>.`);
  }
  const modelDir = path.resolve(opts.model ?? source.model.path);
  if (!fs.existsSync(path.join(modelDir, 'config.json'))) {
    throw new ImportError(`the base model ${modelDir} (from ${path.join(out.bundleDir!, 'run.json')}) is not on this machine; pass --model <the base model folder>.`);
  }
  const { spec } = readConfig(modelDir);
  try {
    checkPeftAdapter(out.adapterDir, spec);
  } catch (e) {
    throw new ImportError(`${out.adapterDir} does not fit the base model ${modelDir}: ${(e as Error).message}. Import it with --model <the base it was trained on>.`);
  }
  const fingerprint = opts.model === undefined ? source.model.fingerprint : fingerprintModel(modelDir);

  const name = opts.name ?? `${source.id} (TRL)`;
  const same = listRuns(opts.runsRoot).runs.filter((r) => r.name === name);
  const local = same.find((r) => r.source !== 'trl');
  if (local) throw new ImportError(`a run named "${name}" already exists (${local.dir}) and was trained by LoRA Lab; choose another --name.`);
  if (same.length > 0 && !opts.force) throw new ImportError(`a run named "${name}" was already imported (${same[0].dir}); pass --force to replace it, or choose another --name.`);

  const run = RunDir.create(opts.runsRoot, {
    name, config: configOf(source, out, name), model: { path: modelDir, fingerprint }, dataset: source.dataset,
    versions: out.versions, source: 'trl',
    imported: { from: out.dir, cluster: out.cluster, ...(out.bundleDir ? { bundle: out.bundleDir } : {}), sourceRunId: source.id },
  });
  const lock = run.lock('import');
  let adapterFiles: string[];
  try {
    for (const row of out.rows) run.appendMetric({ ...row });
    adapterFiles = fs.readdirSync(out.adapterDir).filter((f) => fs.statSync(path.join(out.adapterDir, f)).isFile()).sort();
    run.writeAdapterWith((tmp) => {
      for (const f of adapterFiles) fs.copyFileSync(path.join(out.adapterDir, f), path.join(tmp, f));
    });
    run.log(`imported from ${out.dir} (TRL, bundle ${out.bundleDir ?? 'unknown'}, source run ${source.id}): ${out.rows.length} metrics rows, adapter ${adapterFiles.join(', ')}`);
    run.update({ status: 'completed', ...timesOf(out.rows), summary: summaryOf(out.rows), pid: undefined });
  } catch (e) {
    lock.release();
    fs.rmSync(run.dir, { recursive: true, force: true });
    throw e;
  }
  lock.release();
  for (const old of same) fs.rmSync(old.dir, { recursive: true, force: true });
  return { run, record: run.record(), output: out, adapterFiles, replaced: same[0]?.dir };
}
