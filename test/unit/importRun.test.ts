// `lora-lab import` (issue 17, item 2): a bundle's train.py output folder brought back as a run.
// The output folder is built here the way train.py writes it (src/core/export/trainPy.ts): a real
// LoRA Lab adapter trained 2 steps on test/fixtures/gpt2-tiny in adapter/ (PEFT's layout, which
// train.py's save_model also writes), metrics.jsonl rows in LoRA Lab's row format with Python's
// bare NaN, lora-lab-output.json, and a checkpoint's trainer_state.json (Trainer's keys), inside
// a bundle made by `lora-lab export --to trl`. References: RunDir.open / listRuns read the run as
// any run; decodeMetricsLine accepts every row; the adapter files are byte-identical copies;
// checkPeftAdapter refuses an adapter made for another base (the llama fixture's lora-r4-qv).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli';
import { exportCommand } from '../../src/cli/export';
import { ImportError } from '../../src/core/export';
import { importTrlRun } from '../../src/core/importRun';
import { resolveRunConfig, type RunConfigInput } from '../../src/core/runConfig';
import { runEvalInputs } from '../../src/core/runEval';
import { listRuns, readMetricRows, RunDir, runsRoot } from '../../src/core/runs';
import { runSession, type SessionEvent } from '../../src/core/session';
import { runLabels } from '../../src/protocol/runLabels';
import { randomIds } from './helpers/randomModel';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const MODEL = path.join(FIXTURES, 'gpt2-tiny');

let ws: string;
let sourceRun: string;
let bundle: string;

beforeAll(async () => {
  ws = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-import-'));
  const data = path.join(ws, 'train.jsonl');
  fs.writeFileSync(data, randomIds(24, 14, 96, 5).map((ids) => JSON.stringify({ input_ids: ids })).join('\n') + '\n');
  let fin: Extract<SessionEvent, { type: 'finished' }> | undefined;
  for await (const e of runSession({ model: MODEL, data, workspace: ws, backend: 'wasm', training: { maxSteps: 2, batchSize: 4, evalEvery: 1, learningRate: 1e-2 } })) {
    if (e.type === 'finished') fin = e;
  }
  expect(fin?.status).toBe('completed');
  sourceRun = fin!.runDir!;
  bundle = path.join(ws, 'bundle');
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    expect(await exportCommand.run({ run: sourceRun, out: bundle, to: 'trl' })).toBe(0);
  } finally {
    log.mockRestore();
  }
}, 120_000);
afterAll(() => fs.rmSync(ws, { recursive: true, force: true }));

/** train.py's output folder: adapter/, metrics.jsonl (Python's json.dumps, NaN bare), lora-lab-output.json, checkpoint-N/trainer_state.json. */
function makeOutput(name: string, opts: { maxSteps?: number; adapter?: string } = {}): string {
  const out = path.join(bundle, name);
  fs.mkdirSync(path.join(out, 'adapter'), { recursive: true });
  const adapter = opts.adapter ?? path.join(sourceRun, 'adapter');
  for (const f of fs.readdirSync(adapter)) fs.copyFileSync(path.join(adapter, f), path.join(out, 'adapter', f));
  const maxSteps = opts.maxSteps ?? 2;
  // The rows train.py's LabMetrics writes: step and eval, without LoRA Lab's provenance fields.
  const rows = RunDir.open(sourceRun).metrics().filter((r) => (r.type === 'step' || r.type === 'eval') && (r.step as number) <= maxSteps);
  const lines = rows.map((r, i) => {
    const { examples: _e, exampleLosses: _l, ...row } = r;
    const text = JSON.stringify({ ...row, ...(row.type === 'step' ? { totalSteps: maxSteps } : {}) }, null, 0).replace(/":/g, '": ').replace(/,"/g, ', "');
    return i === 0 ? text.replace(/"gradNorm": [^,]+/, '"gradNorm": NaN') : text; // HF logs no grad_norm → float("nan"), dumped bare
  });
  fs.writeFileSync(path.join(out, 'metrics.jsonl'), lines.join('\n') + '\n');
  fs.writeFileSync(path.join(out, 'lora-lab-output.json'), JSON.stringify({
    bundle, runId: path.basename(sourceRun), model: MODEL, worldSize: 2, perDeviceBatch: 2, gradientAccumulation: 1, effectiveBatch: 4,
    maxSteps, warmupSteps: 0, globalStep: maxSteps, versions: { torch: '2.9.1', transformers: '4.57.3', trl: '1.16.0', peft: '0.21.2', accelerate: '1.12.0' },
  }, null, 2));
  fs.mkdirSync(path.join(out, `checkpoint-${maxSteps}`));
  fs.writeFileSync(path.join(out, `checkpoint-${maxSteps}`, 'trainer_state.json'), JSON.stringify({ global_step: maxSteps, max_steps: maxSteps, train_batch_size: 2, epoch: 0.5, num_train_epochs: 1, log_history: [] }));
  return out;
}

const rootOf = (w: string) => runsRoot(w);

describe('lora-lab import of a train.py output folder', () => {
  it('makes a completed run with source trl that RunDir.open and listRuns read, metrics decoded, adapter byte-identical', () => {
    const out = makeOutput('output');
    const target = fs.mkdtempSync(path.join(ws, 'ws-'));
    const r = importTrlRun({ output: out, runsRoot: rootOf(target) });
    const rec = RunDir.open(r.run.dir).record();
    const source = RunDir.open(sourceRun).record();
    expect(rec).toMatchObject({ status: 'completed', source: 'trl', name: `${source.id} (TRL)`, dataset: source.dataset, model: { path: MODEL, fingerprint: source.model.fingerprint } });
    // The cluster ran the planned 2 steps: only the name differs (config.name, which run labels show first).
    expect(rec.config).toEqual({ ...(source.config as object), name: `${source.id} (TRL)` });
    const labels = runLabels([source, rec].map((x) => ({ id: x.id, name: x.name, config: resolveRunConfig(x.config as RunConfigInput), dataset: x.dataset.path, model: x.model.path })));
    expect(labels[1]).toBe(`${source.id} (TRL)`);
    expect(labels[0]).not.toContain('(TRL)');
    expect(rec.imported).toMatchObject({ from: out, bundle, sourceRunId: source.id, cluster: { worldSize: 2, perDeviceBatch: 2, gradientAccumulation: 1, maxSteps: 2, globalStep: 2, epochs: 0.5 } });
    expect(rec.versions).toMatchObject({ trl: '1.16.0', peft: '0.21.2' });
    expect(rec.summary).toMatchObject({ finalStep: 2, bestStep: expect.any(Number) });
    expect(Date.parse(rec.endedAt!)).toBeGreaterThanOrEqual(Date.parse(rec.startedAt!));
    expect(fs.existsSync(path.join(r.run.dir, 'eval.json'))).toBe(false);

    const listed = listRuns(rootOf(target));
    expect(listed.problems).toEqual([]);
    expect(listed.runs.map((x) => [x.id, x.source, x.status])).toEqual([[r.run.id, 'trl', 'completed']]);
    expect(listRuns(rootOf(ws)).runs.find((x) => x.dir === sourceRun)?.source).toBeUndefined(); // a trained run has none

    const m = readMetricRows(r.run.metricsPath);
    expect(m.skipped).toEqual([]);
    expect(m.rows.map((x) => [x.type, 'step' in x ? x.step : undefined])).toEqual([['step', 1], ['eval', 1], ['step', 2], ['eval', 2]]);
    const first = m.rows[0];
    expect(first.type === 'step' && Number.isNaN(first.gradNorm)).toBe(true); // Python's bare NaN kept as NaN

    for (const f of fs.readdirSync(path.join(out, 'adapter'))) {
      expect(fs.readFileSync(path.join(r.run.dir, 'adapter', f)).equals(fs.readFileSync(path.join(out, 'adapter', f)))).toBe(true);
    }
    expect(r.adapterFiles).toEqual(fs.readdirSync(path.join(out, 'adapter')).sort());
    // `lora-lab eval --run` finds its base model and adapter as for a trained run.
    expect(runEvalInputs(r.run.dir)).toMatchObject({ modelDir: MODEL, adapterDir: path.join(r.run.dir, 'adapter') });
    expect(fs.existsSync(path.join(r.run.dir, 'run.lock'))).toBe(false);
  });

  it('records the steps the cluster run took in the config when they differ from the bundle’s plan', () => {
    const out = makeOutput('output-1', { maxSteps: 1 });
    const r = importTrlRun({ output: out, runsRoot: rootOf(fs.mkdtempSync(path.join(ws, 'ws-'))) });
    const config = r.record.config as { training: { maxSteps?: number } };
    expect(config.training.maxSteps).toBe(1);
    expect((RunDir.open(sourceRun).record().config as { training: { maxSteps?: number } }).training.maxSteps).toBe(2);
    expect(r.record.summary).toMatchObject({ finalStep: 1 });
  });

  it('the CLI prints the run and the exact eval command (no eval.json is written)', async () => {
    const out = makeOutput('output-cli');
    const target = fs.mkdtempSync(path.join(ws, 'ws-'));
    const logs: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void logs.push(s));
    try {
      expect(await main(['import', out, '--workspace', target, '--name', 'cluster run'])).toBe(0);
      expect(await main(['import', out, '--workspace', target, '--name', 'cluster run 2', '--json'])).toBe(0);
    } finally {
      log.mockRestore();
    }
    expect(logs[0]).toMatch(/cluster {2}2 process\(es\) x per-device batch 2 x accumulation 1; 2 of 2 steps/);
    expect(logs[0]).toMatch(/next {5}no eval\.json yet.*\n\s+lora-lab eval --run \S+ --out \S+eval\.json/);
    const j = JSON.parse(logs[1]) as { runDir: string; record: { source: string; name: string }; evalCommand: string };
    expect(j.record).toMatchObject({ source: 'trl', name: 'cluster run 2' });
    expect(j.evalCommand).toBe(`lora-lab eval --run ${j.runDir} --out ${path.join(j.runDir, 'eval.json')}`);
    expect(listRuns(rootOf(target)).runs.map((x) => x.name).sort()).toEqual(['cluster run', 'cluster run 2']);
  });
});

describe('lora-lab import refuses', () => {
  const refused = (fn: () => unknown, re: RegExp, root: string) => {
    const before = listRuns(root).runs.length;
    expect(fn).toThrow(ImportError);
    expect(fn).toThrow(re);
    expect(listRuns(root).runs.length).toBe(before); // no run folder left behind
  };

  it('a folder that is not a bundle output: no adapter, no metrics.jsonl, a bad row (file and line named)', () => {
    const root = rootOf(fs.mkdtempSync(path.join(ws, 'ws-')));
    const noAdapter = makeOutput('no-adapter');
    fs.rmSync(path.join(noAdapter, 'adapter'), { recursive: true });
    refused(() => importTrlRun({ output: noAdapter, runsRoot: root }), /is not the output of a LoRA Lab bundle's train\.py: no adapter\/adapter_config\.json/, root);
    const noMetrics = makeOutput('no-metrics');
    fs.rmSync(path.join(noMetrics, 'metrics.jsonl'));
    refused(() => importTrlRun({ output: noMetrics, runsRoot: root }), /no metrics\.jsonl/, root);
    const badRow = makeOutput('bad-row');
    const file = path.join(badRow, 'metrics.jsonl');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines[2] = lines[2].replace('"loss": ', '"loss": "high", "was": ');
    fs.writeFileSync(file, lines.join('\n'));
    refused(() => importTrlRun({ output: badRow, runsRoot: root }), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: not a LoRA Lab metrics row \\("loss" is "high", expected a number\\)`), root);
    refused(() => importTrlRun({ output: path.join(ws, 'nowhere'), runsRoot: root }), /is not a folder/, root);
  });

  it('an adapter trained for another base model (llama-tiny’s q_proj/v_proj adapter on gpt2-tiny)', () => {
    const root = rootOf(fs.mkdtempSync(path.join(ws, 'ws-')));
    const out = makeOutput('other-base', { adapter: path.join(FIXTURES, 'llama-tiny-gqa-bf16', 'lora-r4-qv') });
    refused(() => importTrlRun({ output: out, runsRoot: root }), /adapter does not fit the base model .*gpt2-tiny.*--model/, root);
  });

  it('an existing run with the same name, unless --force (which replaces an earlier import, never a trained run)', () => {
    const target = fs.mkdtempSync(path.join(ws, 'ws-'));
    const root = rootOf(target);
    const out = makeOutput('output-twice');
    const first = importTrlRun({ output: out, runsRoot: root, name: 'twice' });
    refused(() => importTrlRun({ output: out, runsRoot: root, name: 'twice' }), /already imported .*--force/, root);
    const second = importTrlRun({ output: out, runsRoot: root, name: 'twice', force: true });
    expect(second.replaced).toBe(first.run.dir);
    expect(fs.existsSync(first.run.dir)).toBe(false);
    expect(listRuns(root).runs.map((r) => r.dir)).toEqual([second.run.dir]);
    const trained = RunDir.open(sourceRun).record().name;
    refused(() => importTrlRun({ output: out, runsRoot: rootOf(ws), name: trained, force: true }), /trained by LoRA Lab; choose another --name/, rootOf(ws));
  });
});
