// Native TensorFlow against the reference engine: the same 20-step LoRA training run, evaluation
// loss and greedy generation on tfjs-node ('tensorflow') and on tfjs-backend-wasm 4.22, the
// engine every user has (the reference). The two backends differ in the backend-specific paths
// of BackendTuning (transposed products by matMul flags vs explicit copies, batched vs per-head
// attention) and of VOCAB_BLOCK (whole LM head vs vocabulary blocks), so this checks those paths
// against each other as a whole. Both backends run in this process, one after the other.
// Runs when tfjs-node is loaded (LORA_LAB_TEST_BACKEND=tensorflow, see test/setupTf.ts); skipped otherwise.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../src/core/hf/config';
import { buildModel } from '../../src/core/models/load';
import { VOCAB_BLOCK } from '../../src/core/models/headLoss';
import { generate } from '../../src/core/eval/generate';
import { AdamW, ADAMW_DEFAULTS, clipByGlobalNorm } from '../../src/core/train/optimizer';
import { seededBaseDropout } from '../../src/core/models/baseDropout';
import { randomIds, randomWeights, TINY_GPT2, TINY_LLAMA } from './helpers/randomModel';

const registered = Object.keys((tf.engine() as unknown as { registryFactory: Record<string, unknown> }).registryFactory);
const haveNative = registered.includes('tensorflow') && registered.includes('wasm');
const original = tf.getBackend();
afterAll(async () => {
  await tf.setBackend(original);
});

interface Run {
  losses: number[];
  evalLoss: number;
  greedy: number[];
}

async function run(backend: string, spec: ModelSpec, prefix: string): Promise<Run> {
  if (!(await tf.setBackend(backend))) throw new Error(`setBackend(${backend}) failed`);
  // Small vocabulary blocks on wasm so its blocked LM head is what gets compared (vocab 40).
  const saved = VOCAB_BLOCK.wasm;
  VOCAB_BLOCK.wasm = 16;
  const { model } = buildModel(spec, randomWeights(spec, 3, prefix), 'mem');
  VOCAB_BLOCK.wasm = saved;
  try {
    model.addAdapter({ r: 4, loraAlpha: 8, loraDropout: 0.1, targetModules: 'all-linear' }, 5);
    const opt = new AdamW(model.trainableVariables(), { ...ADAMW_DEFAULTS, weightDecay: 0.01 });
    const ids = randomIds(3, 12, spec.vocabSize, 9);
    const weights = ids.map((row, b) => row.map((_, t) => (t < 2 + b ? 0 : 1))); // prompt-like masked prefixes
    const losses: number[] = [];
    let seed = 100;
    for (let step = 0; step < 20; step++) {
      // lora_dropout 0.1 and the model's own dropout (GPT-2: pdrop 0.1 each; Llama: attention_dropout 0.1):
      // the same masks on both backends (drawn in JS from the seeds).
      const ctx = { training: true, dropoutSeed: () => seed++, baseDropout: seededBaseDropout(step) };
      const { loss, grads } = model.lossAndGrads(ids, weights, ctx);
      losses.push(loss);
      const clipped = clipByGlobalNorm(grads, 1.0);
      opt.apply(clipped.grads, 2e-3);
      tf.dispose(clipped.grads);
    }
    opt.dispose();
    const ev = model.loss(ids, weights);
    const evalLoss = ev.loss.dataSync()[0];
    ev.loss.dispose();
    const greedy = generate(model, ids[0].slice(0, 4), { maxNewTokens: 8, eosIds: [] }).ids;
    return { losses, evalLoss, greedy };
  } finally {
    model.dispose();
  }
}

describe.skipIf(!haveNative)('native TensorFlow equals the wasm reference', () => {
  it.each([
    ['GPT-2', TINY_GPT2, 'transformer.'],
    ['Llama (GQA)', { ...TINY_LLAMA, dropout: { embd: 0, attn: 0.1, resid: 0 } }, ''],
  ] as const)('%s: 20 training losses, the evaluation loss and greedy tokens within 1e-5 relative', async (_name, spec, prefix) => {
    const reference = await run('wasm', spec, prefix);
    const native = await run('tensorflow', spec, prefix);
    expect(reference.losses[19]).toBeLessThan(reference.losses[0]); // the run does train
    native.losses.forEach((l, i) => expect(Math.abs(l - reference.losses[i]) / reference.losses[i]).toBeLessThan(1e-5));
    expect(Math.abs(native.evalLoss - reference.evalLoss) / reference.evalLoss).toBeLessThan(1e-5);
    expect(native.greedy).toEqual(reference.greedy);
  });
});
