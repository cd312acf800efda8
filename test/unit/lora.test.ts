// LoRA invariants on tiny random GPT-2 and Llama models (PEFT semantics):
// a new adapter changes nothing, merge equals the unmerged adapter, unmerge restores the base,
// and training does not leak tensors.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildModel } from '../../src/core/models/load';
import { randomIds, randomWeights, TINY_GPT2, TINY_LLAMA } from './helpers/randomModel';
import type { ModelSpec } from '../../src/core/hf/config';

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}

function maxAbs(a: tf.Tensor): number {
  return tf.tidy(() => a.abs().max().dataSync()[0]);
}

/** Gives B random values so the adapter has an effect (a fresh adapter has B = 0). */
function perturbAdapter(model: ReturnType<typeof buildModel>['model'], scale = 0.3): void {
  let k = 1;
  for (const v of model.trainableVariables()) {
    v.assign(tf.randomNormal(v.shape, 0, scale, 'float32', k++));
  }
}

const cases: [string, ModelSpec, string][] = [
  ['GPT-2', TINY_GPT2, 'transformer.'],
  ['Llama (GQA)', TINY_LLAMA, ''],
];

describe.each(cases)('%s', (_name, spec, prefix) => {
  const ids = randomIds(2, 9, spec.vocabSize);

  it('a new adapter (B = 0) gives logits identical to the base model (PEFT invariant)', () => {
    const { model } = buildModel(spec, randomWeights(spec, 3, prefix), 'mem');
    const base = model.logits(ids);
    model.addAdapter({ r: 4, loraAlpha: 8, targetModules: 'all-linear' }, 11);
    const withAdapter = model.logits(ids);
    expect(maxAbsDiff(base, withAdapter)).toBe(0);
    tf.dispose([base, withAdapter]);
    model.dispose();
  });

  it('merged-weight logits equal adapter (unmerged) logits within 1e-4 relative; unmerge restores the base exactly', () => {
    const { model } = buildModel(spec, randomWeights(spec, 3, prefix), 'mem');
    const base = model.logits(ids);
    model.addAdapter({ r: 4, loraAlpha: 8, targetModules: 'all-linear', useRslora: true }, 11);
    perturbAdapter(model);
    const adapter = model.logits(ids);
    expect(maxAbsDiff(adapter, base)).toBeGreaterThan(1e-2); // the adapter does something
    model.merge();
    const merged = model.logits(ids);
    expect(maxAbsDiff(merged, adapter) / maxAbs(adapter)).toBeLessThan(1e-4);
    model.unmerge();
    model.removeAdapter();
    const restored = model.logits(ids);
    expect(maxAbsDiff(restored, base)).toBe(0);
    tf.dispose([base, adapter, merged, restored]);
    model.dispose();
  });

  it('loss over all positions equals the mean NLL computed from full logits (chunked LM head is exact)', () => {
    const { model } = buildModel(spec, randomWeights(spec, 3, prefix), 'mem');
    const { loss } = model.loss(ids);
    const logits = model.logits(ids);
    const ref = tf.tidy(() => {
      const lp = tf.logSoftmax(logits, -1).arraySync() as number[][][];
      let s = 0;
      let n = 0;
      ids.forEach((row, b) => row.slice(1).forEach((tgt, t) => { s -= lp[b][t][tgt]; n++; }));
      return s / n;
    });
    expect(loss.dataSync()[0]).toBeCloseTo(ref, 5);
    tf.dispose([loss, logits]);
    model.dispose();
  });

  it('weighted loss equals the NLL of the weighted targets only, from full logits (prompt tokens carry no loss)', () => {
    const { model } = buildModel(spec, randomWeights(spec, 3, prefix), 'mem');
    const weights = ids.map((row) => row.map((_, t) => (t >= 5 ? 1 : 0))); // targets 5..8 are the "completion"
    const { loss, tokens } = model.loss(ids, weights);
    const logits = model.logits(ids);
    const lp = tf.tidy(() => tf.logSoftmax(logits, -1).arraySync() as number[][][]);
    let s = 0;
    ids.forEach((row, b) => { for (let t = 5; t < row.length; t++) s -= lp[b][t - 1][row[t]]; });
    expect(tokens).toBe(2 * 4);
    expect(loss.dataSync()[0]).toBeCloseTo(s / tokens, 5);
    tf.dispose([loss, logits]);
    model.dispose();
  });

  it('no tensor leak: tf.memory().numTensors is flat over 20 Adam steps', () => {
    const { model } = buildModel(spec, randomWeights(spec, 3, prefix), 'mem');
    model.addAdapter({ r: 4, loraAlpha: 8, loraDropout: 0.1 }, 5);
    const opt = tf.train.adam(1e-2);
    let seed = 0;
    const ctx = { training: true, dropoutSeed: () => seed++ };
    const counts: number[] = [];
    const losses: number[] = [];
    for (let step = 0; step < 20; step++) {
      const l = opt.minimize(() => model.loss(ids, undefined, ctx).loss, true, model.trainableVariables());
      losses.push(l!.dataSync()[0]);
      l!.dispose();
      counts.push(tf.memory().numTensors);
    }
    // Adam creates its moment slots on the first step; from then on the count must not move.
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(losses[19]).toBeLessThan(losses[0]); // and training does something
    opt.dispose();
    model.dispose();
  });

  it('training never touches the frozen base: after 5 steps, removing the adapter gives the original logits exactly', () => {
    const { model } = buildModel(spec, randomWeights(spec, 3, prefix), 'mem');
    const base = model.logits(ids);
    model.addAdapter({ r: 4, loraAlpha: 8, loraDropout: 0.2, targetModules: 'all-linear' }, 5);
    const opt = tf.train.adam(5e-2);
    let seed = 0;
    for (let step = 0; step < 5; step++) {
      tf.dispose(opt.minimize(() => model.loss(ids, undefined, { training: true, dropoutSeed: () => seed++ }).loss, true, model.trainableVariables()) ?? []);
    }
    const trained = model.logits(ids);
    expect(maxAbsDiff(trained, base)).toBeGreaterThan(1e-3);
    model.removeAdapter();
    const after = model.logits(ids);
    expect(maxAbsDiff(after, base)).toBe(0);
    tf.dispose([base, trained, after]);
    opt.dispose();
    model.dispose();
  });

  it('lora_dropout acts only in training: eval outputs are deterministic, training outputs vary with the seed', () => {
    const { model } = buildModel(spec, randomWeights(spec, 3, prefix), 'mem');
    model.addAdapter({ r: 4, loraAlpha: 8, loraDropout: 0.5, targetModules: 'all-linear' }, 5);
    perturbAdapter(model);
    const e1 = model.loss(ids).loss;
    const e2 = model.loss(ids).loss;
    const t1 = model.loss(ids, undefined, { training: true, dropoutSeed: () => 1 }).loss;
    const t2 = model.loss(ids, undefined, { training: true, dropoutSeed: () => 2 }).loss;
    expect(e1.dataSync()[0]).toBe(e2.dataSync()[0]);
    expect(t1.dataSync()[0]).not.toBe(t2.dataSync()[0]);
    tf.dispose([e1, e2, t1, t2]);
    model.dispose();
  });
});

describe('adapter initialisation (PEFT reset_lora_parameters)', () => {
  const spec = TINY_LLAMA;
  function stats(xs: Float32Array): { max: number; std: number } {
    let s = 0;
    let max = 0;
    xs.forEach((x) => {
      s += x * x;
      max = Math.max(max, Math.abs(x));
    });
    return { max, std: Math.sqrt(s / xs.length) };
  }
  it('default: A ~ U(−1/√in, 1/√in) (kaiming_uniform_, a=√5) and B = 0', () => {
    const { model } = buildModel(spec, randomWeights(spec, 3, ''), 'mem');
    model.addAdapter({ r: 8, targetModules: 'all-linear' }, 3);
    for (const t of model.adapterTensors()) {
      const inF = t.shape[1];
      if (t.name.endsWith('lora_B.weight')) expect(stats(t.data).max).toBe(0);
      else {
        const { max, std } = stats(t.data);
        expect(max).toBeLessThanOrEqual(1 / Math.sqrt(inF));
        expect(std).toBeGreaterThan(0.8 * (1 / Math.sqrt(inF)) / Math.sqrt(3)); // uniform std = bound/√3
      }
    }
    model.dispose();
  });
  it('"gaussian": A ~ N(0, 1/r) and B = 0; the same seed gives the same A', () => {
    const a = buildModel(spec, randomWeights(spec, 3, ''), 'mem').model;
    const b = buildModel(spec, randomWeights(spec, 3, ''), 'mem').model;
    a.addAdapter({ r: 4, targetModules: 'all-linear', initLoraWeights: 'gaussian' }, 9);
    b.addAdapter({ r: 4, targetModules: 'all-linear', initLoraWeights: 'gaussian' }, 9);
    const all = a.adapterTensors().filter((t) => t.name.endsWith('lora_A.weight')).flatMap((t) => Array.from(t.data));
    expect(stats(Float32Array.from(all)).std).toBeGreaterThan(0.9 / 4);
    expect(stats(Float32Array.from(all)).std).toBeLessThan(1.1 / 4);
    expect(b.adapterTensors().map((t) => Array.from(t.data))).toEqual(a.adapterTensors().map((t) => Array.from(t.data)));
    a.dispose();
    b.dispose();
  });
});
