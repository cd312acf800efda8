// The real training worker, forked as the extension host forks it: a short job end to end,
// cancel (checkpoint saved, status cancelled), and a killed worker (run marked failed with the
// reason, metrics and checkpoints kept).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RunDir } from '../../src/core/runs';
import { TrainingWorker } from '../../src/host/trainingWorker';
import type { FromWorker, RunConfigInput } from '../../src/protocol/training';
import { buildWorker } from './helpers/buildWorker';
import { randomIds } from './helpers/randomModel';

const MODEL = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny');
let script: string;

beforeAll(async () => {
  script = await buildWorker();
});

function workspace(rows: number): { dir: string; data: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-worker-'));
  const data = path.join(dir, 'train.jsonl');
  // Pre-tokenized rows: the tiny fixture model has no tokenizer.
  fs.writeFileSync(data, randomIds(rows, 16, 96, 5).map((ids) => JSON.stringify({ input_ids: ids })).join('\n') + '\n');
  return { dir, data };
}

function start(config: RunConfigInput, onEvent: (e: FromWorker, w: TrainingWorker) => void = () => {}) {
  const events: FromWorker[] = [];
  const holder: { worker?: TrainingWorker } = {};
  const worker = new TrainingWorker(script, config, (e) => {
    events.push(e);
    onEvent(e, holder.worker!);
  });
  holder.worker = worker;
  return { worker, events };
}

describe('training worker (forked)', () => {
  it('runs a short job end to end: events in order, run.json completed, PEFT adapter and metrics on disk', async () => {
    const ws = workspace(12);
    const { worker, events } = start({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', training: { maxSteps: 4, batchSize: 2, evalEvery: 2 } });
    const out = await worker.done;
    expect(out.exitCode).toBe(0);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('ready');
    for (const t of ['data', 'backend', 'run', 'preflight', 'step', 'eval', 'checkpoint', 'done', 'adapter', 'finished']) expect(types).toContain(t);
    const runEv = events.find((e) => e.type === 'run') as Extract<FromWorker, { type: 'run' }>;
    const run = RunDir.open(runEv.dir);
    expect(run.record().status).toBe('completed');
    expect(fs.existsSync(path.join(run.adapterDir, 'adapter_model.safetensors'))).toBe(true);
    expect(run.metrics().filter((m) => m.type === 'step')).toHaveLength(4);
  });

  it('cancel: stops within a step, saves the last checkpoint, exits 0 with status cancelled', async () => {
    const ws = workspace(40);
    let cancelledAt = -1;
    const { worker, events } = start({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', training: { maxSteps: 500, batchSize: 2 } }, (e, w) => {
      if (e.type === 'step' && cancelledAt < 0) {
        cancelledAt = e.step;
        w.cancel();
      }
    });
    const out = await worker.done;
    expect(out.exitCode).toBe(0);
    const fin = events.find((e) => e.type === 'finished') as Extract<FromWorker, { type: 'finished' }>;
    expect(fin.status).toBe('cancelled');
    const done = events.find((e) => e.type === 'done') as Extract<FromWorker, { type: 'done' }>;
    expect(done.step).toBeLessThanOrEqual(cancelledAt + 1);
    const run = RunDir.open(fin.runDir!);
    expect(run.record().status).toBe('cancelled');
    expect(run.checkpointDir('last')).toBeDefined();
  });

  it('a killed worker: the host marks the run failed with the reason; metrics and checkpoint are kept', async () => {
    const ws = workspace(40);
    let killed = false;
    const { worker } = start({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', training: { maxSteps: 500, batchSize: 2, checkpointEvery: 2, evalEvery: 2 } }, (e, w) => {
      if (e.type === 'checkpoint' && e.name === 'last' && !killed) {
        killed = true;
        w.kill();
      }
    });
    const out = await worker.done;
    expect(out.finished).toBeUndefined();
    expect(out.failure?.kind).toBe('out-of-memory'); // SIGKILL is what the kernel's OOM killer sends
    const runs = fs.readdirSync(path.join(ws.dir, '.lora-lab', 'runs'));
    const run = RunDir.open(path.join(ws.dir, '.lora-lab', 'runs', runs[0]));
    const rec = run.record();
    expect(rec.status).toBe('failed');
    expect(rec.error?.message).toMatch(/ran out of memory/);
    expect(run.metrics().filter((m) => m.type === 'step').length).toBeGreaterThanOrEqual(2);
    expect(run.checkpointDir('last')).toBeDefined();
  });
});
