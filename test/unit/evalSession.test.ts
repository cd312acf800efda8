// The end of every training run evaluates base, adapter and merged model on the validation
// split: an `evaluation` event, and eval.json in the run folder next to the adapter.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVAL_FILE, type EvalReport } from '../../src/core/evaluate';
import { runSession, type SessionEvent } from '../../src/core/session';
import { randomIds } from './helpers/randomModel';

const MODEL = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny');

describe('end-of-run evaluation', () => {
  it('a completed run emits an evaluation event and writes eval.json with all three models, both checks and generations', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-evalrun-'));
    const data = path.join(dir, 'train.jsonl');
    fs.writeFileSync(data, randomIds(30, 12, 96, 5).map((ids) => JSON.stringify({ input_ids: ids })).join('\n') + '\n');
    const events: SessionEvent[] = [];
    for await (const e of runSession({ model: MODEL, data, workspace: dir, backend: 'wasm', training: { maxSteps: 4, batchSize: 4, lr: 2e-2 } })) events.push(e);
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status, fin.message).toBe('completed');
    const types = events.map((e) => e.type);
    expect(types.indexOf('evaluation')).toBeGreaterThan(types.indexOf('adapter'));
    const ev = events.find((e) => e.type === 'evaluation') as Extract<SessionEvent, { type: 'evaluation' }>;
    expect(ev.path).toBe(path.join(fin.runDir!, EVAL_FILE));
    const saved = JSON.parse(fs.readFileSync(ev.path, 'utf8')) as EvalReport;
    expect(saved).toEqual(JSON.parse(JSON.stringify(ev.report)));
    expect(saved.examples).toBe(3); // the 10% held out of 30
    for (const k of ['base', 'adapter', 'merged'] as const) expect(saved[k]!.tokens).toBe(33);
    expect(saved.adapter!.loss).toBeLessThan(saved.base!.loss);
    expect(saved.mergeCheck).toMatchObject({ flagged: false });
    expect(saved.effectCheck).toMatchObject({ flagged: false, compared: 'adapter' });
    expect(saved.generations).toHaveLength(3);
    expect(saved.generations[0].outputs.merged!.greedy.ids.length).toBeGreaterThan(0);
    expect(saved.sources.adapter).toBe(path.join(fin.runDir!, 'adapter'));
    const lastEval = events.filter((e) => e.type === 'eval').at(-1) as Extract<SessionEvent, { type: 'eval' }>;
    expect(saved.adapter!.loss).toBeCloseTo(lastEval.valLoss, 5); // the same quantity the trainer reports
  });
});
