// `npm run bench -- --generate`: generation speed of many prompts, one at a time (generate() in a
// loop) against batched (generateBatch at several batch sizes), as issue 16's evaluation cases
// run them: 16 prompts of 4–34 tokens × 32 new tokens by default, greedy, no EOS (every row
// makes all its tokens, so each mode does the same work). Modes alternate within each
// repetition after one warm-up round; tokens/s is new tokens over wall time, min and median over
// the repetitions. Peak tensor bytes come from one extra tf.profile'd run per mode (profiling
// slows the ops, so it is not timed). Every batched run's ids are checked against the loop's.
import * as tf from '@tensorflow/tfjs';
import { generate } from '../core/eval/generate';
import { generateBatch } from '../core/eval/generateBatch';
import { buildModel } from '../core/models/load';
import type { CausalLM } from '../core/models/causalLm';
import { PRESETS } from './presets';

export interface GenerateBenchOptions {
  prompts: number;
  newTokens: number;
  repeat: number;
  /** Batch sizes to time beside the one-at-a-time loop. */
  batchSizes: number[];
}

interface ModeResult {
  mode: string;
  tokensPerSec: number[];
  peakTensorMB: number;
}

/** Deterministic prompts of 4…34 tokens (lengths and ids from a fixed LCG). */
function benchPrompts(n: number, vocab: number): number[][] {
  let s = 16;
  const next = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  return Array.from({ length: n }, () => Array.from({ length: 4 + Math.floor(next() * 31) }, () => Math.floor(next() * vocab)));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function benchModel(model: CausalLM, o: GenerateBenchOptions): Promise<ModeResult[]> {
  const prompts = benchPrompts(o.prompts, model.spec.vocabSize);
  const opts = { maxNewTokens: o.newTokens, eosIds: [] as number[] };
  const modes: { mode: string; run: () => number[][] }[] = [
    { mode: 'loop (generate)', run: () => prompts.map((p) => generate(model, p, opts).ids) },
    ...o.batchSizes.map((b) => ({ mode: `batch ${b}`, run: () => generateBatch(model, prompts, { ...opts, batchSize: b }).map((g) => g.ids) })),
  ];
  const reference = modes[0].run(); // also the warm-up of the loop
  for (const m of modes.slice(1)) {
    const ids = m.run(); // warm-up
    const bad = ids.findIndex((row, i) => row.join() !== reference[i].join());
    if (bad >= 0) throw new Error(`${m.mode}: prompt ${bad}'s ids differ from generate()'s`);
  }
  const results: ModeResult[] = modes.map((m) => ({ mode: m.mode, tokensPerSec: [], peakTensorMB: 0 }));
  const newTokens = reference.reduce((n, r) => n + r.length, 0);
  for (let r = 0; r < o.repeat; r++) {
    modes.forEach((m, k) => {
      const t0 = performance.now();
      m.run();
      results[k].tokensPerSec.push(newTokens / ((performance.now() - t0) / 1000));
      process.stderr.write(`repetition ${r + 1}, ${m.mode}: ${results[k].tokensPerSec[r].toFixed(1)} tokens/s\n`);
    });
  }
  for (const [k, m] of modes.entries()) {
    const before = tf.memory().numBytes; // the model's own tensors: peakBytes counts them too
    const info = await tf.profile(() => {
      m.run();
      return [];
    });
    results[k].peakTensorMB = (info.peakBytes - before) / 2 ** 20;
  }
  return results;
}

export async function generateBench(presets: string[], o: GenerateBenchOptions, backend: string): Promise<void> {
  for (const name of presets) {
    const { spec, source, where } = PRESETS[name]();
    const { model } = buildModel(spec, source, where);
    try {
      const before = tf.memory().numBytes;
      const rows = await benchModel(model, o);
      console.log(`\n${name} (${spec.family}, ${spec.numLayers} layers, d ${spec.hiddenSize}, vocab ${spec.vocabSize}) on ${backend}: ${o.prompts} prompts × ${o.newTokens} new tokens, greedy; ${o.repeat} repetitions`);
      console.log(`model tensors ${(before / 2 ** 20).toFixed(0)} MB\n`);
      console.log('| mode | tokens/s min | tokens/s median | × loop (median) | peak tensors above the model |');
      console.log('| --- | --- | --- | --- | --- |');
      const base = median(rows[0].tokensPerSec);
      for (const r of rows) {
        const med = median(r.tokensPerSec);
        console.log(`| ${r.mode} | ${Math.min(...r.tokensPerSec).toFixed(1)} | ${med.toFixed(1)} | ${(med / base).toFixed(2)} | ${r.peakTensorMB.toFixed(1)} MB |`);
      }
    } finally {
      model.dispose();
    }
  }
}
