// Decoding A/B inside one process (not part of the build): ms per new token of greedy generation
// with the KV cache (16-token prompt, (g(33) − g(1)) / 32 as decode.ts), LoRA r=8 on the default
// targets, alternating the one-token decoding graph (BackendTuning.decodeGraph) off and on,
// `rounds` times, on native; on wasm only the op-by-op path exists. Prints each round and the
// median, with the process's matMul peak. Build: see run-graph.sh.
import * as tf from '@tensorflow/tfjs';
import { benchmarkMatMul, initBackend, type BackendChoice } from '../../../../src/core/backend';
import { BACKEND_TUNING } from '../../../../src/core/backend/tensorOps';
import { generate } from '../../../../src/core/eval/generate';
import { resolveLoraConfig } from '../../../../src/core/lora/config';
import { buildModel } from '../../../../src/core/models/load';
import { PRESETS } from '../../../../src/bench/presets';

async function main(): Promise<void> {
  const [backend, presets, rounds = '4', label = ''] = process.argv.slice(2);
  const report = await initBackend(backend as BackendChoice, {});
  const peak = () => `${benchmarkMatMul().gflops.toFixed(0)}/${benchmarkMatMul(2048, 2048, 2048, 3).gflops.toFixed(0)}`;
  const native = tf.getBackend() === 'tensorflow';
  const modes = native ? [false, true] : [false];
  for (const name of presets.split(',')) {
    const { spec, source, where } = PRESETS[name]();
    const { model } = buildModel(spec, source, where);
    model.addAdapter(resolveLoraConfig(spec, { r: 8, loraDropout: 0 }), 0);
    const prompt = Array.from({ length: 16 }, (_, t) => (t * 104729) % spec.vocabSize);
    const res = new Map<boolean, number[]>(modes.map((m) => [m, []]));
    const ids = new Map<boolean, string>();
    const firsts: string[] = [];
    for (const m of [...modes].reverse()) {
      if (native) BACKEND_TUNING.tensorflow.decodeGraph = m;
      const w = generate(model, prompt, { maxNewTokens: 3, eosIds: [] }); // warm-up (graph mode: builds and loads the graph)
      const again = generate(model, prompt, { maxNewTokens: 3, eosIds: [] });
      firsts.push(`${m ? 'graph' : 'ops'} ${w.ms.toFixed(0)} ms, then ${again.ms.toFixed(0)} ms`);
    }
    console.log(`${label} ${name} ${report.backend}: first generation of 3 tokens ${firsts.join('; ')}`);
    for (let r = 0; r < Number(rounds); r++) {
      const line: string[] = [];
      for (const m of modes) {
        if (native) BACKEND_TUNING.tensorflow.decodeGraph = m;
        const first = generate(model, prompt, { maxNewTokens: 1, eosIds: [] });
        const g = generate(model, prompt, { maxNewTokens: 33, eosIds: [] });
        const ms = (g.ms - first.ms) / 32;
        res.get(m)!.push(ms);
        ids.set(m, g.ids.join(','));
        line.push(`${m ? 'graph' : 'ops'} ${ms.toFixed(1)}`);
      }
      console.log(`${label} ${name} ${report.backend} round ${r + 1}: ${line.join(', ')} ms/token; matMul peak ${peak()}`);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const summary = modes.map((m) => `${m ? 'graph' : 'ops'} ${med(res.get(m)!).toFixed(1)} ms = ${(1000 / med(res.get(m)!)).toFixed(1)} tok/s (best ${(1000 / Math.min(...res.get(m)!)).toFixed(1)})`);
    const same = native ? (ids.get(false) === ids.get(true) ? 'greedy tokens equal' : 'GREEDY TOKENS DIFFER') : '';
    console.log(`${label} ${name} ${report.backend} median: ${summary.join('; ')} ${same}; tensors ${tf.memory().numTensors}`);
    model.dispose();
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
