// The worker boundary's decoders (src/protocol/worker.ts): each message is checked field by field
// against its type (none missing, none extra, each of the right kind) and rejected with a reason
// that names the message and the field — the worker used to cast `raw as ToWorker` and the host
// accepted anything with a string `type`.
import { describe, expect, it } from 'vitest';
import { decodeFromWorker, decodeToWorker, type FromWorker } from '../../src/protocol/worker';

const step: FromWorker = { type: 'step', step: 3, totalSteps: 30, epoch: 0.1, loss: NaN, lr: 1e-4, gradNorm: 1, tokens: 512, tokensPerSec: 1000, stepMs: 100, elapsedMs: 300 };

describe('decodeToWorker', () => {
  it('accepts each job and cancel as sent', () => {
    for (const m of [
      { type: 'train', config: { model: '/m', data: '/d.jsonl' } },
      { type: 'train', config: {}, resumeRunDir: '/ws/.lora-lab/runs/r1' },
      { type: 'evaluate', runDir: '/ws/.lora-lab/runs/r1' },
      { type: 'merge', model: '/m', adapter: '/a', out: '/o', force: true },
      { type: 'cancel' },
    ]) expect(decodeToWorker(m)).toEqual({ ok: true, value: m });
  });

  it('rejects with the reason: not an object, no type, an unknown type, a missing, mistyped or unexpected field', () => {
    const reason = (m: unknown) => {
      const d = decodeToWorker(m);
      return d.ok ? 'accepted' : d.error;
    };
    expect(reason('start')).toBe('message to the worker: not an object (string)');
    expect(reason({ config: {} })).toBe('message to the worker: no "type"');
    expect(reason({ type: 'start', config: {} })).toBe('message to the worker: unknown type "start"');
    expect(reason({ type: 'toString' })).toBe('message to the worker: unknown type "toString"');
    expect(reason({ type: 'evaluate' })).toBe('message to the worker "evaluate": "runDir" is missing');
    expect(reason({ type: 'merge', model: '/m', adapter: '/a', out: 5 })).toBe('message to the worker "merge": "out" must be a string, got 5');
    expect(reason({ type: 'train', config: [] })).toBe('message to the worker "train": "config" must be an object, got []');
    expect(reason({ type: 'cancel', now: true })).toBe('message to the worker "cancel": unexpected field "now"');
  });
});

describe('decodeFromWorker', () => {
  it('accepts the session\'s events (a NaN loss included: a diverged step is reported as is), phases and the job results', () => {
    for (const m of [
      { type: 'ready', pid: 12 },
      step,
      { type: 'phase', phase: 'evaluating', done: 1, total: 4, elapsedMs: 20, detail: 'base, adapter' },
      { type: 'phase', phase: 'preflight' },
      { type: 'done', status: 'completed', step: 30, bestValLoss: null, bestStep: null },
      { type: 'finished', status: 'failed', message: 'no', errorKind: 'memory' },
      { type: 'merged', out: '/o', summary: { out: '/o' } },
      { type: 'exit', code: 0 },
    ]) expect(decodeFromWorker(m)).toEqual({ ok: true, value: m });
  });

  it('rejects a malformed event with the field that is wrong', () => {
    const reason = (m: unknown) => {
      const d = decodeFromWorker(m);
      return d.ok ? 'accepted' : d.error;
    };
    expect(reason({ ...step, loss: '2.3' })).toBe('message from the worker "step": "loss" must be a number, got "2.3"');
    expect(reason({ type: 'phase', phase: 'dreaming' })).toBe('message from the worker "phase": "phase" must be one of checking-data, loading-model, preflight, saving, merging, evaluating, generating, got "dreaming"');
    expect(reason({ type: 'finished', status: 'running' })).toMatch(/"status" must be one of completed, failed, cancelled/);
    expect(reason({ type: 'done', status: 'completed', step: 1, bestValLoss: undefined, bestStep: null })).toBe('message from the worker "done": "bestValLoss" is missing');
    expect(reason({ type: 'run', runId: 'r', dir: '/r', extra: 1 })).toBe('message from the worker "run": unexpected field "extra"');
    // The evaluation report goes through eval.json's own decoder (src/protocol/evaluation.ts).
    expect(reason({ type: 'evaluation', path: '/r/eval.json', report: { formatVersion: 1 } })).toMatch(/^message from the worker "evaluation": "report": /);
  });
});
