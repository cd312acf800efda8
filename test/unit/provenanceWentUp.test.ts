// The Examples view's "loss went up" list (issue 15): each training line's loss at its first
// appearance (first epoch) against its last (last epoch), only rises, the largest first; a run of
// one epoch has none. Reference: the rises computed by hand on a two-epoch, three-line run.
import { describe, expect, it } from 'vitest';
import { lastEpochLosses, provenanceRows, wentUpLosses } from '../../src/core/runs/provenance';
import type { MetricsLine } from '../../src/protocol/metrics';

const step = (n: number, examples: number[], exampleLosses: (number | null)[]): MetricsLine => ({
  type: 'step', step: n, totalSteps: 4, epoch: n / 2, loss: 1, lr: 1e-3, gradNorm: 1, tokens: 10, tokensPerSec: 1, stepMs: 1, elapsedMs: n, time: 't', examples, exampleLosses,
});

describe('wentUpLosses', () => {
  // Epoch 1: steps 1–2 (lines 2, 5 | 8, 11); epoch 2: steps 3–4 in another order.
  const rows = provenanceRows([
    step(1, [2, 5], [1.0, 2.0]),
    { type: 'eval', step: 2, valLoss: 1, valPerplexity: 2.7, valTokens: 5, best: true, time: 't' },
    step(2, [8, 11], [3.0, null]),
    step(3, [11, 2], [0.5, 1.5]),
    step(4, [8, 5], [3.9, 1.0]),
  ]);

  it('lists the lines whose last-epoch loss is above their first-epoch loss, the largest rise first', () => {
    expect(wentUpLosses(rows, '/d/train.jsonl')).toEqual([
      { file: '/d/train.jsonl', line: 8, loss: 3.9, step: 4, firstLoss: 3.0, firstStep: 2 },
      { file: '/d/train.jsonl', line: 2, loss: 1.5, step: 3, firstLoss: 1.0, firstStep: 1 },
    ]);
  });

  it('leaves out falls, lines without a loss at either end, and lines seen once (one epoch: empty)', () => {
    const lines = wentUpLosses(rows, 'f').map((r) => r.line);
    expect(lines).not.toContain(5); // 2.0 → 1.0
    expect(lines).not.toContain(11); // null → 0.5
    expect(wentUpLosses(rows.slice(0, 2), 'f')).toEqual([]);
  });

  it('agrees with lastEpochLosses on each line’s last loss and step', () => {
    const last = new Map(lastEpochLosses(rows, 'f').map((r) => [r.line, r]));
    for (const r of wentUpLosses(rows, 'f')) expect({ loss: r.loss, step: r.step }).toEqual({ loss: last.get(r.line)!.loss, step: last.get(r.line)!.step });
  });
});
