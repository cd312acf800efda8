// Golden logits for config.json options the engine reads: RoPE scaling (llama3, linear), Llama
// attention/MLP biases, Mistral's sliding window, GPT-2's inverse-layer-index attention scaling
// and a non-default GPT-2 activation / MLP width. Each fixture is a tiny random model written and
// run by PyTorch + transformers (scripts/gen_golden.py, config-option fixtures; versions in
// scripts/requirements-ref.txt).
import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../src/core/hf/config';
import { loadModel } from '../../src/core/models/load';

const FIX = path.join(__dirname, '..', 'fixtures');

interface Golden {
  input_ids: number[][];
  logits: number[][][];
}

function readGolden(dir: string): Golden {
  return JSON.parse(fs.readFileSync(path.join(dir, 'golden.json'), 'utf8')) as Golden;
}

function maxAbsDiff(actual: tf.Tensor, expected: number[][][]): number {
  return tf.tidy(() => actual.sub(tf.tensor(expected)).abs().max().dataSync()[0]);
}

/** Each fixture, what it exercises, and what the parsed config must say about it. */
const CASES: [string, string, Partial<ModelSpec>][] = [
  [
    'llama-tiny-rope-llama3',
    'Llama 3.1 RoPE scaling, 36 positions > original_max_position_embeddings 32',
    { ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 32 }, ropeTheta: 10000 },
  ],
  ['llama-tiny-rope-linear', 'linear RoPE scaling, factor 2, 24 positions', { ropeScaling: { type: 'linear', factor: 2 }, ropeTheta: 10000 }],
  ['llama-tiny-attn-bias', 'Llama attention_bias + mlp_bias, tied head', { qkvBias: true, oBias: true, mlpBias: true, tieWordEmbeddings: true }],
  ['mistral-tiny-sliding', 'Mistral sliding_window 4 over 12 positions', { slidingWindow: 4 }],
  ['gpt2-tiny-inverse-layer-idx', 'GPT-2 scale_attn_by_inverse_layer_idx, 3 layers, gelu_new', { scaleAttnByInverseLayerIdx: true, activation: 'gelu_new', numLayers: 3 }],
  ['gpt2-tiny-relu', 'GPT-2 relu, n_inner 48', { activation: 'relu', intermediateSize: 48 }],
];

describe.each(CASES)('%s (%s)', (name, _what, expectedSpec) => {
  it('config options are parsed; logits equal PyTorch/transformers within 1e-4', () => {
    const dir = path.join(FIX, name);
    const g = readGolden(dir);
    const { model, spec, unusedTensors } = loadModel(dir);
    expect(spec).toMatchObject(expectedSpec);
    expect(unusedTensors).toEqual([]);
    const logits = model.logits(g.input_ids);
    expect(logits.shape).toEqual([g.input_ids.length, g.input_ids[0].length, spec.vocabSize]);
    expect(maxAbsDiff(logits, g.logits)).toBeLessThan(1e-4);
    logits.dispose();
    model.dispose();
  });
});
