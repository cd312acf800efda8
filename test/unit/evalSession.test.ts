// The end of every training run evaluates base, adapter and merged model on the validation
// split: an `evaluation` event, and eval.json in the run folder next to the adapter.
// `lora-lab eval --run <dir>` (the "Evaluate Run…" command) scores the same held-out examples
// again: the reference is the end-of-run evaluation's own numbers.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { cli } from './helpers/cli';
import { EVAL_FILE, type EvalReport } from '../../src/core/eval/evaluate';
import { runSession, type SessionEvent } from '../../src/core/session';
import { randomIds } from './helpers/randomModel';

const MODEL = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny');

describe('end-of-run evaluation', () => {
  it('a completed run emits an evaluation event and writes eval.json with all three models, both checks and generations', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-evalrun-'));
    const data = path.join(dir, 'train.jsonl');
    fs.writeFileSync(data, randomIds(30, 12, 96, 5).map((ids) => JSON.stringify({ input_ids: ids })).join('\n') + '\n');
    const events: SessionEvent[] = [];
    for await (const e of runSession({ model: MODEL, data, workspace: dir, backend: 'wasm', training: { maxSteps: 4, batchSize: 4, learningRate: 2e-2 } })) events.push(e);
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

  it('cancel during the end-of-run evaluation: it stops, the run is completed with its adapter, no eval.json; the phases said so', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-evalcancel-'));
    const data = path.join(dir, 'train.jsonl');
    fs.writeFileSync(data, randomIds(30, 12, 96, 5).map((ids) => JSON.stringify({ input_ids: ids })).join('\n') + '\n');
    const abort = new AbortController();
    const events: SessionEvent[] = [];
    for await (const e of runSession({ model: MODEL, data, workspace: dir, backend: 'wasm', training: { maxSteps: 3, batchSize: 4 } }, { signal: abort.signal })) {
      events.push(e);
      if (e.type === 'phase' && e.phase === 'evaluating') abort.abort();
    }
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status).toBe('completed');
    expect(events.some((e) => e.type === 'evaluation')).toBe(false);
    expect(events.some((e) => e.type === 'log' && /end-of-run evaluation cancelled/.test(e.message))).toBe(true);
    expect(fs.existsSync(path.join(fin.runDir!, EVAL_FILE))).toBe(false);
    expect(fs.existsSync(path.join(fin.runDir!, 'adapter', 'adapter_model.safetensors'))).toBe(true);
  });

  async function train(dir: string, data: string): Promise<{ runDir: string; report: EvalReport }> {
    let runDir: string | undefined;
    let report: EvalReport | undefined;
    for await (const e of runSession({ model: MODEL, data, workspace: dir, backend: 'wasm', training: { maxSteps: 3, batchSize: 4, learningRate: 2e-2, seed: 7 } })) {
      if (e.type === 'finished') runDir = e.runDir;
      if (e.type === 'evaluation') report = e.report;
    }
    return { runDir: runDir!, report: report! };
  }

  it('eval --run scores the examples the run held out (not the training file): the same examples and losses as the end-of-run evaluation', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-evalrun-'));
    const data = path.join(dir, 'train.jsonl');
    fs.writeFileSync(data, randomIds(40, 12, 96, 8).map((ids) => JSON.stringify({ input_ids: ids })).join('\n') + '\n');
    const { runDir, report } = await train(dir, data);
    expect(report.examples).toBe(4); // 10% of 40, drawn with the run's seed (7)
    const e = await cli(['eval', '--run', runDir, '--json', '--backend', 'wasm', '--prompts', '0']);
    expect(e.code, e.err).toBe(0);
    const r = JSON.parse(e.out) as EvalReport;
    expect(r.examples).toBe(4);
    for (const k of ['base', 'adapter', 'merged'] as const) {
      expect(r[k]!.tokens).toBe(report[k]!.tokens);
      expect(r[k]!.loss).toBeCloseTo(report[k]!.loss, 5);
    }
    expect(r.sources.adapter).toBe(path.join(runDir, 'adapter'));
    expect(r.sources.data).toMatch(/the 4 examples the run held out for validation: fraction 0\.1, seed 7/);
    expect(r.sources.data).toBe(report.sources.data); // eval.json names the same examples
    expect(r.notes).toEqual([]);
    // The whole file (what "Evaluate Run…" used to score) is 40 examples, most of them trained on.
    const whole = JSON.parse((await cli(['eval', '--run', runDir, '--data', data, '--json', '--backend', 'wasm', '--prompts', '0'])).out) as EvalReport;
    expect(whole.examples).toBe(40);
    // A changed dataset file is reported: the split may now overlap what the adapter trained on.
    fs.appendFileSync(data, JSON.stringify({ input_ids: [1, 2, 3, 4] }) + '\n');
    const changed = JSON.parse((await cli(['eval', '--run', runDir, '--json', '--backend', 'wasm', '--prompts', '0'])).out) as EvalReport;
    expect(changed.notes.join(' ')).toMatch(/train\.jsonl changed since the run .*may include examples the adapter was trained on/);
  });

  it('a validation file found next to the training file is recorded in run.json and is what eval --run scores; a run without an adapter is refused by name', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-evalrun-'));
    const data = path.join(dir, 'train.jsonl');
    const valid = path.join(dir, 'valid.jsonl');
    fs.writeFileSync(data, randomIds(20, 12, 96, 9).map((ids) => JSON.stringify({ input_ids: ids })).join('\n') + '\n');
    fs.writeFileSync(valid, randomIds(5, 10, 96, 10).map((ids) => JSON.stringify({ input_ids: ids })).join('\n') + '\n');
    const { runDir, report } = await train(dir, data);
    expect(report.examples).toBe(5);
    const rec = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as { dataset: { validPath?: string; validSha256?: string } };
    expect(rec.dataset.validPath).toBe(valid);
    expect(rec.dataset.validSha256).toMatch(/^[0-9a-f]{64}$/);
    const r = JSON.parse((await cli(['eval', '--run', runDir, '--json', '--backend', 'wasm', '--prompts', '0'])).out) as EvalReport;
    expect(r.examples).toBe(5);
    expect(r.sources.data).toBe(valid);
    expect(report.sources.data).toBe(valid);
    expect(r.adapter!.loss).toBeCloseTo(report.adapter!.loss, 5);
    fs.rmSync(path.join(runDir, 'adapter'), { recursive: true });
    const refused = await cli(['eval', '--run', runDir, '--json', '--backend', 'wasm']);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(`${path.join(runDir, 'adapter')} holds no adapter`);
    // A checkpoint instead (a PEFT folder), scored on the same validation file: the last one is the final adapter.
    const ck = JSON.parse((await cli(['eval', '--run', runDir, '--adapter', path.join(runDir, 'checkpoints', 'last'), '--json', '--backend', 'wasm', '--prompts', '0'])).out) as EvalReport;
    expect(ck.examples).toBe(5);
    expect(ck.adapter!.loss).toBeCloseTo(report.adapter!.loss, 5);
  });

  it('lora-lab train --group-by-length records it in run.json, and eval --run still finds the held-out split (the split does not depend on the order)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-evalrun-'));
    const data = path.join(dir, 'train.jsonl');
    fs.writeFileSync(data, randomIds(30, 12, 96, 11).map((ids, i) => JSON.stringify({ input_ids: ids.slice(0, 4 + (i % 9)) })).join('\n') + '\n');
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => lines.push(String(chunk)) > 0);
    const t = await cli(['train', '--model', MODEL, '--data', data, '--workspace', dir, '--backend', 'wasm', '--max-steps', '3', '--batch', '4', '--group-by-length', '--json']).finally(() => write.mockRestore());
    expect(t.code, t.err).toBe(0);
    const fin = lines.map((l) => JSON.parse(l) as SessionEvent).find((e) => e.type === 'finished') as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status).toBe('completed');
    const rec = JSON.parse(fs.readFileSync(path.join(fin.runDir!, 'run.json'), 'utf8')) as { config: { training: { groupByLength: boolean } } };
    expect(rec.config.training.groupByLength).toBe(true);
    const saved = JSON.parse(fs.readFileSync(path.join(fin.runDir!, EVAL_FILE), 'utf8')) as EvalReport;
    const r = JSON.parse((await cli(['eval', '--run', fin.runDir!, '--json', '--backend', 'wasm', '--prompts', '0'])).out) as EvalReport;
    expect(r.examples).toBe(3);
    expect(r.adapter!.loss).toBeCloseTo(saved.adapter!.loss, 5);
  });
});
