// Provenance through a whole run (runSession, as `lora-lab train` and the worker drive it) and
// `lora-lab examples` over it: step rows name the training file's lines (a held-out split: a
// subset of them) once per epoch, also when a run is interrupted past its checkpoint and resumed
// (the rows past the checkpoint set aside, runs/rewind.ts); eval-examples.jsonl holds one row per
// validation example for the best and last evaluation, its tokens summing to the evaluation's
// valTokens and its token-weighted mean equal to valLoss; the byte scan of step rows
// (runs/stepScan.ts) and the bounded reader still read rows that carry provenance; a run from
// before provenance gets a clear error from the CLI.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunDir, readMetricsView } from '../../src/core/runs';
import { readEvalExamples, EVAL_EXAMPLES_FILE } from '../../src/core/runs/evalExamples';
import { scanned, scanStepLine } from '../../src/core/runs/stepScan';
import { runSession, type SessionEvent } from '../../src/core/session';
import type { EvalRow, StepRow } from '../../src/protocol/metrics';
import { cli } from './helpers/cli';
import { randomIds } from './helpers/randomModel';

const MODEL = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny');

/** 26 input_ids rows, a blank line after every 5th (so a row's line is not its index + 1). */
function workspace(): { dir: string; data: string; tokensByLine: Map<number, number> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-prov-'));
  const data = path.join(dir, 'train.jsonl');
  const out: string[] = [];
  const tokensByLine = new Map<number, number>();
  randomIds(26, 12, 96, 5).forEach((ids, i) => {
    const row = ids.slice(0, 5 + (i % 7));
    out.push(JSON.stringify({ input_ids: row }));
    tokensByLine.set(out.length, row.length - 1); // input_ids: loss on every position but the first
    if (i % 5 === 4) out.push('');
  });
  fs.writeFileSync(data, out.join('\n') + '\n');
  return { dir, data, tokensByLine };
}

async function collect(gen: AsyncGenerator<SessionEvent>, stopAfterStep?: number): Promise<SessionEvent[]> {
  const out: SessionEvent[] = [];
  for await (const e of gen) {
    out.push(e);
    if (stopAfterStep !== undefined && e.type === 'step' && e.step === stopAfterStep) break; // a crash: nothing more is written
  }
  return out;
}

const TRAINING = { batchSize: 4, gradientAccumulation: 2, epochs: 2, evalEvery: 2, checkpointEvery: 2, learningRate: 1e-2, seed: 9 };

describe('provenance in a run folder', () => {
  it('held-out split, interrupted past a checkpoint and resumed: each epoch covers the training lines once; eval-examples.jsonl agrees with the eval rows; lora-lab examples reads it', async () => {
    const ws = workspace();
    const config = { model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm' as const, training: TRAINING };
    const first = await collect(runSession(config), 3);
    const runDir = (first.find((e) => e.type === 'run') as Extract<SessionEvent, { type: 'run' }>).dir;
    const before = readEvalExamples(runDir).rows;
    expect(before.length).toBeGreaterThan(0);
    const resumed = await collect(runSession({}, { resumeRunDir: runDir }));
    expect(resumed.at(-1)).toMatchObject({ type: 'finished', status: 'completed' });
    expect(resumed.find((e) => e.type === 'run')).toMatchObject({ resumedFromStep: 2 });
    // Step 3 was logged past the checkpoint (step 2) and set aside at the resume.
    const superseded = fs.readFileSync(path.join(runDir, 'metrics.superseded.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepRow);
    expect(superseded.map((r) => r.step)).toEqual([3]);
    expect(superseded[0].examples).toHaveLength(7); // 23 training examples: micro-batches 4,4 | 4,4 | 4,3

    const run = RunDir.open(runDir);
    const rows = run.metrics();
    const steps = rows.filter((r): r is StepRow & Record<string, unknown> => r.type === 'step') as unknown as StepRow[];
    const evals = rows.filter((r) => r.type === 'eval') as unknown as EvalRow[];
    expect(steps.map((s) => s.step)).toEqual(steps.map((_, i) => i + 1)); // each step once (rewound past the checkpoint)

    // The split: validation lines and training lines are disjoint and together every data line.
    const evalRows = readEvalExamples(runDir).rows;
    const last = evalRows.filter((r) => r.tag === 'last');
    const validLines = last.map((r) => r.line);
    const trainLines = [...ws.tokensByLine.keys()].filter((l) => !validLines.includes(l));
    expect(validLines.length).toBe(3); // round(26 · 0.1)
    for (const r of evalRows) expect(r.file).toBe(path.resolve(ws.data));

    const perEpoch = Math.ceil(Math.ceil(trainLines.length / 4) / 2);
    expect(steps).toHaveLength(2 * perEpoch);
    for (let e = 0; e < 2; e++) {
      const lines = steps.slice(e * perEpoch, (e + 1) * perEpoch).flatMap((s) => s.examples!);
      expect([...lines].sort((a, b) => a - b)).toEqual(trainLines);
    }
    for (const s of steps) {
      let sum = 0;
      let w = 0;
      s.examples!.forEach((line, k) => {
        sum += s.exampleLosses![k]! * ws.tokensByLine.get(line)!;
        w += ws.tokensByLine.get(line)!;
      });
      expect(Math.abs(sum / w - s.loss) / s.loss).toBeLessThan(1e-5);
    }

    // eval-examples.jsonl: the last evaluation and the best one, each one row per validation example.
    const lastEval = evals.at(-1)!;
    const bestEval = evals.filter((e) => e.best).at(-1)!;
    for (const [tag, ev] of [['last', lastEval], ['best', bestEval]] as const) {
      const mine = evalRows.filter((r) => r.tag === tag);
      expect(mine).toHaveLength(3);
      expect(mine.every((r) => r.step === ev.step)).toBe(true);
      expect(mine.reduce((s, r) => s + r.tokens, 0)).toBe(ev.valTokens);
      const mean = mine.reduce((s, r) => s + r.loss! * r.tokens, 0) / ev.valTokens;
      expect(Math.abs(mean - ev.valLoss) / ev.valLoss).toBeLessThan(1e-5);
      for (const r of mine) expect(r.tokens).toBe(ws.tokensByLine.get(r.line));
    }

    // The byte scan of step rows and the bounded reader still read rows with provenance.
    const text = fs.readFileSync(run.metricsPath);
    let start = 0;
    let scannedRows = 0;
    for (let nl = text.indexOf(10); nl !== -1; start = nl + 1, nl = text.indexOf(10, start)) {
      const row = JSON.parse(text.toString('utf8', start, nl)) as StepRow;
      if (row.type !== 'step') continue;
      expect(scanStepLine(text, start, nl)).toBe(true);
      // The scan's documented contract (stepScan.ts): step and tokens exact, the loss within about 1e-15 relative of JSON.parse's.
      expect({ step: scanned.step, tokens: scanned.tokens }).toEqual({ step: row.step, tokens: row.tokens });
      expect(Math.abs(scanned.loss - row.loss) / Math.abs(row.loss)).toBeLessThan(4e-15);
      scannedRows++;
    }
    expect(scannedRows).toBe(steps.length);
    const view = readMetricsView(run.metricsPath);
    expect(view.rows.filter((r) => r.type === 'step').map((r) => (r as StepRow).examples)).toEqual(steps.map((s) => s.examples));

    // lora-lab examples over the run.
    const step1 = await cli(['examples', '--run', runDir, '--step', '1']);
    expect(step1.code, step1.err).toBe(0);
    const listed = step1.out.split('\n').slice(1);
    expect(listed).toHaveLength(8);
    const s1 = steps[0];
    const order = s1.examples!.map((line, k) => ({ line, loss: s1.exampleLosses![k]! })).sort((a, b) => b.loss - a.loss);
    const dataText = fs.readFileSync(ws.data, 'utf8').split('\n');
    listed.forEach((l, i) => {
      expect(l).toMatch(new RegExp(`^${path.resolve(ws.data).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${order[i].line}\\s+${order[i].loss.toFixed(4)}\\s+`));
      expect(l.endsWith(dataText[order[i].line - 1].slice(0, 80))).toBe(true);
    });
    const json = JSON.parse((await cli(['examples', '--run', runDir, '--hardest', '4', '--json'])).out) as { train: { line: number; loss: number; step: number }[]; valid: { line: number; loss: number }[] };
    expect(json.train).toHaveLength(4);
    const lastEpoch = steps.slice(perEpoch).flatMap((s) => s.examples!.map((line, k) => ({ line, loss: s.exampleLosses![k]! })));
    expect(json.train.map((t) => t.loss)).toEqual(lastEpoch.map((t) => t.loss).sort((a, b) => b - a).slice(0, 4));
    expect(json.valid.map((v) => v.line).sort()).toEqual([...validLines].sort());
    const spikes = await cli(['examples', '--run', runDir, '--spikes', '--json']);
    expect(spikes.code, spikes.err).toBe(0);
    expect(JSON.parse(spikes.out)).toMatchObject({ k: 6, window: 50, spikes: [] });
    expect((await cli(['examples', '--run', runDir, '--step', '999'])).err).toMatch(/step 999 has no row with examples/);
    expect((await cli(['examples', '--run', runDir, '--step', '1', '--spikes'])).code).toBe(2);

    // A run from before provenance: said so.
    const old = rows.map((r) => {
      const { examples: _e, exampleLosses: _l, ...rest } = r as Record<string, unknown>;
      return JSON.stringify(rest);
    });
    fs.writeFileSync(run.metricsPath, old.join('\n') + '\n');
    fs.rmSync(path.join(runDir, EVAL_EXAMPLES_FILE));
    const none = await cli(['examples', '--run', runDir, '--hardest', '3']);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/has no per-example provenance .* trained before LoRA Lab logged them/);
  }, 60_000);

  it('a validation file beside the training file: eval-examples.jsonl names it and its lines', async () => {
    const ws = workspace();
    const valid = path.join(ws.dir, 'valid.jsonl');
    const rows = randomIds(4, 8, 96, 8).map((ids) => JSON.stringify({ input_ids: ids }));
    fs.writeFileSync(valid, ['', rows[0], rows[1], '', rows[2], rows[3]].join('\n') + '\n');
    const events = await collect(runSession({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', training: { ...TRAINING, epochs: 1 } }));
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status).toBe('completed');
    const evalRows = readEvalExamples(fin.runDir!).rows;
    const last = evalRows.filter((r) => r.tag === 'last');
    expect(last.map((r) => [r.file, r.line, r.tokens])).toEqual([2, 3, 5, 6].map((line) => [valid, line, 7]));
    const steps = RunDir.open(fin.runDir!).metrics().filter((r) => r.type === 'step') as unknown as StepRow[];
    expect(steps.flatMap((s) => s.examples!).sort((a, b) => a - b)).toEqual([...ws.tokensByLine.keys()]); // no split: every training line
  }, 60_000);
});
