// Decoding micro-benchmark (not part of the build): kernels per decoded token (tf.profile) and
// tokens/s of greedy generation with the KV cache, 16-token prompt + 32 new tokens, LoRA r=8 on
// the default targets as `npm run bench` does. One backend per process; the driver (run.sh)
// alternates backends and code versions. Build: see run.sh.
import * as tf from '@tensorflow/tfjs';
import { benchmarkMatMul, initBackend, type BackendChoice } from '../../../../src/core/backend';
import { generate } from '../../../../src/core/eval/generate';
import { KvCache } from '../../../../src/core/models/kvCache';
import { resolveLoraConfig } from '../../../../src/core/lora/config';
import { buildModel } from '../../../../src/core/models/load';
import { PRESETS } from '../../../../src/bench/presets';

async function main(): Promise<void> {
  const [backend, presets, label = ''] = process.argv.slice(2);
  const report = await initBackend(backend as BackendChoice, {});
  const small = benchmarkMatMul().gflops;
  const large = benchmarkMatMul(2048, 2048, 2048, 3).gflops;
  for (const name of presets.split(',')) {
    const { spec, source, where } = PRESETS[name]();
    const { model } = buildModel(spec, source, where);
    model.addAdapter(resolveLoraConfig(spec, { r: 8, loraDropout: 0 }), 0);
    const prompt = Array.from({ length: 16 }, (_, t) => (t * 104729) % spec.vocabSize);
    // Kernels of one incremental token (after the prompt and one token).
    const cache = new KvCache(spec.numLayers);
    tf.dispose(model.nextLogits([prompt], cache));
    tf.dispose(model.nextLogits([[5]], cache));
    const prof = await tf.profile(() => tf.dispose(model.nextLogits([[7]], cache)));
    if (process.env.SEQ) console.log(prof.kernels.slice(0, Number(process.env.SEQ)).map((k) => `${k.name}${JSON.stringify(k.inputShapes)}`).join("\n"));
    const kinds = new Map<string, number>();
    for (const k of prof.kernels) kinds.set(k.name, (kinds.get(k.name) ?? 0) + 1);
    cache.dispose();
    generate(model, prompt, { maxNewTokens: 2, eosIds: [] });
    const perTok: number[] = [];
    const genRate: number[] = [];
    for (let r = 0; r < 3; r++) {
      const first = generate(model, prompt, { maxNewTokens: 1, eosIds: [] });
      const g = generate(model, prompt, { maxNewTokens: 33, eosIds: [] });
      perTok.push((g.ms - first.ms) / 32);
      const g32 = generate(model, prompt, { maxNewTokens: 32, eosIds: [] });
      genRate.push((g32.ids.length / g32.ms) * 1000);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[1];
    const top = [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, n]) => `${k}:${n}`).join(' ');
    console.log(
      `${label} ${name} ${report.backend}: ops/token ${prof.kernels.length}; decode ${med(perTok).toFixed(1)} ms/token = ${(1000 / med(perTok)).toFixed(1)} tok/s; ` +
        `generate (bench column) ${med(genRate).toFixed(1)} tok/s [runs ${genRate.map((x) => x.toFixed(1)).join(', ')}]; matMul peak ${small.toFixed(0)} / ${large.toFixed(0)} GFLOP/s; tensors ${tf.memory().numTensors}`,
    );
    console.log(`   kernels: ${top}`);
    model.dispose();
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
