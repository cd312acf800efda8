// Raw probe (not part of the build): every TensorFlow op a native step runs — tfjs kernels, LoRA
// Lab's fused kernels and MatMul alike — timed at the backend's executeSingleOutput /
// executeMultipleOutputs (tfjs-node runs eager ops synchronously on the CPU), grouped by op and output shape; for one training step and one
// evaluation forward (loss, no gradient). tf.profile sees only tfjs's registered kernels.
//   npx esbuild docs/bench/2026-12-04/fused/opprofile.ts --bundle --platform=node --format=cjs \
//     --target=node20 --outfile=/tmp/opprofile.js --external:@tensorflow/*
//   NODE_PATH=$PWD/node_modules node /tmp/opprofile.js smollm-135m,distilgpt2
import * as tf from '@tensorflow/tfjs';
import { benchmarkMatMul, initBackend } from '../../../../src/core/backend';
import { resolveLoraConfig } from '../../../../src/core/lora/config';
import { buildModel } from '../../../../src/core/models/load';
import { PRESETS } from '../../../../src/bench/presets';

type Exec = (name: string, attrs: unknown[], inputs: tf.Tensor[], n?: number) => tf.Tensor | tf.Tensor[];

async function main() {
  const names = (process.argv[2] ?? 'smollm-135m,distilgpt2').split(',');
  const report = await initBackend('tensorflow', {});
  const peak = { small: benchmarkMatMul().gflops, large: benchmarkMatMul(2048, 2048, 2048, 3).gflops };
  console.log(`backend ${report.backend} ×${report.threads}; fused ${JSON.stringify(report.native?.fusedOps?.loaded)}; matMul peak ${peak.small.toFixed(0)} / ${peak.large.toFixed(0)} GFLOP/s (small / 2048³)`);
  // The binding's exports are read-only: wrap the backend's two entry points (every tfjs-node kernel and the fused ops use them).
  const be = tf.backend() as unknown as Record<'executeSingleOutput' | 'executeMultipleOutputs', Exec>;
  let rec: Map<string, { ms: number; calls: number }> | undefined;
  for (const m of ['executeSingleOutput', 'executeMultipleOutputs'] as const) {
    const orig = be[m].bind(be);
    be[m] = (name, attrs, inputs, n) => {
      if (!rec) return orig(name, attrs, inputs, n);
      const t0 = performance.now();
      const out = orig(name, attrs, inputs, n);
      const first = Array.isArray(out) ? out[0] : out;
      const key = `${name} → [${first?.shape ?? ''}]`;
      const g = rec.get(key) ?? { ms: 0, calls: 0 };
      g.ms += performance.now() - t0;
      g.calls++;
      rec.set(key, g);
      return out;
    };
  }
  for (const n of names) {
    const { spec, source, where } = PRESETS[n]();
    const { model } = buildModel(spec, source, where);
    model.addAdapter(resolveLoraConfig(spec, { r: 8, loraDropout: 0 }), 0);
    model.activationMode = 'keep';
    const ids = Array.from({ length: 4 }, (_, b) => Array.from({ length: 128 }, (_, t) => (b * 7919 + t * 104729) % spec.vocabSize));
    const step = () => tf.dispose(model.lossAndGrads(ids, undefined, { training: true } as never).grads);
    const evalLoss = () => tf.dispose(model.loss(ids).loss);
    for (let i = 0; i < 2; i++) { step(); evalLoss(); }
    for (const [label, f] of [['training step', step], ['evaluation forward', evalLoss]] as const) {
      rec = new Map();
      const t0 = performance.now();
      f();
      const wall = performance.now() - t0;
      const groups = [...rec].sort((a, b) => b[1].ms - a[1].ms);
      rec = undefined;
      const inOps = groups.reduce((a, [, g]) => a + g.ms, 0);
      const calls = groups.reduce((a, [, g]) => a + g.calls, 0);
      console.log(`\n=== ${n}, ${label}: wall ${wall.toFixed(0)} ms; in ops ${inOps.toFixed(0)} ms over ${calls} ops; outside ops ${(wall - inOps).toFixed(0)} ms`);
      const byName = new Map<string, { ms: number; calls: number }>();
      for (const [k, g] of groups) { const nm = k.split(' ')[0]; const e = byName.get(nm) ?? { ms: 0, calls: 0 }; e.ms += g.ms; e.calls += g.calls; byName.set(nm, e); }
      for (const [nm, g] of [...byName].sort((a, b) => b[1].ms - a[1].ms)) console.log(`  ${g.ms.toFixed(1).padStart(8)} ms ×${String(g.calls).padEnd(5)} ${nm}`);
      console.log('  top groups:');
      for (const [k, g] of groups.slice(0, 25)) console.log(`  ${g.ms.toFixed(1).padStart(8)} ms ×${String(g.calls).padEnd(5)} ${((1000 * g.ms) / g.calls).toFixed(0).padStart(6)} µs  ${k}`);
    }
    model.dispose();
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
