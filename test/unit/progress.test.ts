// The one narrator (src/protocol/progress.ts): every surface folds the same events into the same
// phase, n/N and ETA. References: the status bar and the panel disagreed (7 s vs 15 s) because one
// timed the last step and the other the mean since the first; both sat at "30/30 · ETA 0s" through
// a 40-s end-of-run evaluation. Here the ETA is the mean since the first step seen, and the phases
// after training say what they do.
import { describe, expect, it } from 'vitest';
import { advance, etaSeconds, eventLines, formatSeconds, Narrator, phaseFraction, startProgress, statusText, type NarratedEvent } from '../../src/protocol/progress';
import type { SessionEvent } from '../../src/protocol/worker';

const step = (n: number, elapsedMs: number, stepMs: number, total = 30): SessionEvent => ({
  type: 'step', step: n, totalSteps: total, epoch: n / 10, loss: 2 - n / 100, lr: 1e-4, gradNorm: 1, tokens: 512, tokensPerSec: 1000, stepMs, elapsedMs,
});
const fold = (events: NarratedEvent[]) => events.reduce(advance, startProgress());

describe('ETA', () => {
  it('is the mean time per step since the first step seen, times the steps left (not the last step\'s time)', () => {
    // Step 1 took 1 s, step 2 took 0.2 s: the mean is 0.6 s/step, 28 steps left → 16.8 s (the last step alone would say 5.6 s).
    const p = fold([step(1, 1000, 1000), step(2, 1200, 200)]);
    expect(p.etaSeconds).toBeCloseTo(16.8, 9);
    expect(etaSeconds({ done: 0, elapsedMs: 0 }, 2, 1200, 30)).toBeCloseTo(16.8, 9);
  });

  it('with one step seen, that step\'s time; before any unit, undefined; none left, 0', () => {
    expect(etaSeconds(undefined, 1, 100, 11, 250)).toBeCloseTo(2.5, 9);
    expect(etaSeconds(undefined, 1, 100, 11)).toBeUndefined();
    expect(etaSeconds(undefined, 5, 0, 5)).toBe(0);
  });

  it('a resumed run times from its first step in this session (elapsed counts from the resume)', () => {
    const p = fold([step(21, 500, 500), step(25, 2500, 500)]);
    expect(p.etaSeconds).toBeCloseTo(((2500 - 0) / (25 - 20) / 1000) * 5, 9);
  });

  it('formats as the CLI always did', () => {
    expect([formatSeconds(7.4), formatSeconds(65), formatSeconds(3725), formatSeconds(undefined), formatSeconds(NaN)]).toEqual(['7s', '1m05s', '1h02m', '?', '?']);
  });
});

describe('phases', () => {
  const run: NarratedEvent[] = [
    { type: 'config', config: {} as never },
    { type: 'run', runId: 'r1', dir: '/ws/r1' },
    { type: 'phase', phase: 'preflight' },
    { type: 'preflight', counts: {} as never, memory: {} as never, warmupMs: 100, stepsPerEpoch: 30, totalSteps: 30, secondsPerEpoch: 3, etaSeconds: 3 },
    step(1, 100, 100),
    step(30, 3000, 100),
    { type: 'done', status: 'completed', step: 30, bestValLoss: 1.5, bestStep: 30 },
    { type: 'adapter', dir: '/ws/r1/adapter' },
    { type: 'phase', phase: 'merging', detail: 'in memory, for the evaluation' },
    { type: 'phase', phase: 'evaluating', done: 0, total: 8, elapsedMs: 0, detail: 'base, adapter, merged' },
    { type: 'phase', phase: 'evaluating', done: 2, total: 8, elapsedMs: 10_000, detail: 'base, adapter, merged' },
    { type: 'phase', phase: 'generating', done: 1, total: 6, elapsedMs: 4000 },
    { type: 'finished', status: 'completed', runDir: '/ws/r1' },
  ];

  it('each event moves the status line: loading, pre-flight, training n/N, saving, merging, evaluating k/K with its ETA, generating, the outcome', () => {
    const lines: string[] = [];
    let p = startProgress();
    lines.push(statusText(p));
    for (const e of run) lines.push(statusText((p = advance(p, e))));
    expect(lines).toEqual([
      'Starting…',
      'Checking the dataset…',
      'Loading the model…',
      'Pre-flight (memory, warm-up)…',
      'Training · step 0/30 · ETA 3s',
      'Training · step 1/30 · loss 1.990 · 1000 tok/s · ETA 3s',
      'Training · step 30/30 · loss 1.700 · 1000 tok/s · ETA 0s',
      'Saving the adapter…',
      'Saving the adapter…',
      'Merging the adapter into the base (in memory, for the evaluation)…',
      'Evaluating base, adapter, merged · batch 0/8',
      'Evaluating base, adapter, merged · batch 2/8 · ETA 30s',
      'Generating · prompt 1/6 · ETA 20s',
      'Completed',
    ]);
    expect(p.runId).toBe('r1');
  });

  it('the progress bar follows the phase: steps while training, batches while evaluating, none when it cannot count', () => {
    expect(phaseFraction(fold(run.slice(0, 6)))).toBe(1);
    expect(phaseFraction(fold(run.slice(0, 11)))).toBe(0.25);
    expect(phaseFraction(fold(run.slice(0, 9)))).toBeUndefined();
  });

  it('a failed run says why; the next run starts afresh', () => {
    const failed = fold([step(3, 300, 100), { type: 'finished', status: 'failed', message: 'out of memory' }]);
    expect(statusText(failed)).toBe('Failed (out of memory)');
    const next = advance(failed, { type: 'config', config: {} as never });
    expect(next.step).toBe(0);
    expect(statusText(next)).toBe('Checking the dataset…');
  });

  it('the evaluation keeps the training figures for the panel (loss, best validation loss)', () => {
    const p = fold([step(4, 400, 100), { type: 'eval', step: 4, valLoss: 2.5, valPerplexity: 12, valTokens: 10, best: true }, { type: 'done', status: 'completed', step: 4, bestValLoss: 2.5, bestStep: 4 }]);
    expect(p).toMatchObject({ phase: 'saving', step: 4, bestValLoss: 2.5, lastValLoss: 2.5 });
  });
});

describe('log lines', () => {
  it('one labelled line per event worth keeping; steps and phase progress are the status line, not the log', () => {
    expect(eventLines({ type: 'eval', step: 5, valLoss: 2.34567, valPerplexity: 10.444, valTokens: 3, best: true })).toEqual(['eval     step 5: val loss 2.3457, perplexity 10.44  (best)']);
    expect(eventLines(step(1, 1, 1))).toEqual([]);
    expect(eventLines({ type: 'phase', phase: 'evaluating', done: 1, total: 2 })).toEqual([]);
    expect(eventLines({ type: 'log', level: 'warn', message: 'careful' })).toEqual(['warning  careful']);
    expect(eventLines({ type: 'finished', status: 'completed', runDir: '/r' })).toEqual(['completed \n         run folder: /r']);
  });

  it('a message that opens with its status is said once ("cancelled while tokenizing …", not "cancelled  cancelled while …")', () => {
    const e: SessionEvent = { type: 'finished', status: 'cancelled', message: 'cancelled while tokenizing train.jsonl (row 2,000 of 9,000); nothing was written' };
    expect(eventLines(e)).toEqual(['cancelled while tokenizing train.jsonl (row 2,000 of 9,000); nothing was written']);
    expect(statusText(advance(startProgress(), e))).toMatch(/^Cancelled while tokenizing train\.jsonl/);
    const other: SessionEvent = { type: 'finished', status: 'failed', message: 'out of memory' };
    expect(eventLines(other)).toEqual(['failed   out of memory']);
  });

  it('the Narrator class folds and tells in one call', () => {
    const n = new Narrator();
    expect(n.tell({ type: 'run', runId: 'a', dir: '/a' })).toEqual(['run      /a']);
    expect(n.status()).toBe('Loading the model…');
  });
});
