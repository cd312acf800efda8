// Raw probe (not part of the build): one native training step under tf.profile, every kernel group
// (name + input shapes) with calls and time, plus a per-category summary, for the given presets
// alternating in one process. Also: wall and CPU time of unprofiled steps, and the wall time outside kernels.
//   npx esbuild docs/bench/2026-12-04/smollm/fullprofile.ts --bundle --platform=node --format=cjs \
//     --target=node20 --outfile=/tmp/fullprofile.js --external:@tensorflow/*
//   NODE_PATH=$PWD/node_modules TF_ENABLE_ONEDNN_OPTS=1 node /tmp/fullprofile.js smollm-135m,distilgpt2
import * as tf from '@tensorflow/tfjs';
import { benchmarkMatMul, initBackend } from '../../../../src/core/backend';
import { resolveLoraConfig } from '../../../../src/core/lora/config';
import { buildModel } from '../../../../src/core/models/load';
import { PRESETS } from '../../../../src/bench/presets';

function flops(shapes: number[][]): number {
  const [a, b] = shapes;
  if (!a || !b || a.length < 2 || b.length < 2) return 0;
  const batch = Math.max(a.slice(0, -2).reduce((x, y) => x * y, 1), b.slice(0, -2).reduce((x, y) => x * y, 1));
  const [p, q] = a.slice(-2);
  const [r, t] = b.slice(-2);
  const mnk = q === r ? p * q * t : q === t ? p * q * r : p === r ? q * p * t : q * p * r;
  return 2 * batch * mnk;
}
function category(name: string, shapes: number[][], V: number): string {
  if (name === 'BatchMatMul') {
    const dims = shapes.flat();
    if (dims.includes(V)) return 'matMul: LM head';
    if (shapes[0].length === 3) return 'matMul: attention (batched)';
    if (dims.includes(8)) return 'matMul: LoRA rank-8';
    return 'matMul: frozen linear';
  }
  if (!tf.getKernel(name, tf.getBackend())) return 'op wrapper (not counted)';
  if (['Reshape', 'Transpose', 'SplitV', 'Concat', 'ConcatV2', 'Pack', 'Unpack', 'Slice', 'StridedSlice', 'Cast', 'Identity'].includes(name)) return `layout: ${name}`;
  return `elementwise/reduce: ${name}`;
}
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

async function main() {
  const names = (process.argv[2] ?? 'smollm-135m,distilgpt2').split(',');
  const report = await initBackend('tensorflow', {});
  const peak = { small: benchmarkMatMul().gflops, large: benchmarkMatMul(2048, 2048, 2048, 3).gflops };
  console.log(`backend ${report.backend} ×${report.threads}; matMul peak ${peak.small.toFixed(0)} / ${peak.large.toFixed(0)} GFLOP/s (small / 2048³); TF_ENABLE_ONEDNN_OPTS=${process.env.TF_ENABLE_ONEDNN_OPTS}`);
  const models = names.map((n) => {
    const { spec, source, where } = PRESETS[n]();
    const { model } = buildModel(spec, source, where);
    model.addAdapter(resolveLoraConfig(spec, { r: 8, loraDropout: 0 }), 0);
    model.activationMode = 'keep';
    const ids = Array.from({ length: 4 }, (_, b) => Array.from({ length: 128 }, (_, t) => (b * 7919 + t * 104729) % spec.vocabSize));
    return { n, spec, model, ids };
  });
  const step = (m: (typeof models)[0]) => tf.dispose(m.model.lossAndGrads(m.ids, undefined, { training: true } as never).grads);
  for (const m of models) { step(m); step(m); }
  // Unprofiled steps, alternating presets: wall and CPU ms.
  const times = new Map<string, { wall: number[]; cpu: number[] }>();
  for (let r = 0; r < 3; r++) for (const m of models) {
    const c0 = cpu(); const t0 = performance.now(); step(m);
    const e = times.get(m.n) ?? { wall: [], cpu: [] }; e.wall.push(performance.now() - t0); e.cpu.push(cpu() - c0); times.set(m.n, e);
  }
  for (const [n, e] of times) console.log(`${n}: lossAndGrads wall ms ${e.wall.map((x) => x.toFixed(0)).join(' ')}; CPU ms ${e.cpu.map((x) => x.toFixed(0)).join(' ')}`);
  for (const m of models) {
    const V = m.spec.vocabSize;
    const t0 = performance.now();
    const info = await tf.profile(() => { step(m); return []; });
    const wall = performance.now() - t0;
    const groups = new Map<string, { ms: number; calls: number; fl: number; cat: string }>();
    const cats = new Map<string, { ms: number; calls: number; fl: number }>();
    let total = 0; let counted = 0;
    for (const k of info.kernels) {
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      const shapes = k.inputShapes as number[][];
      const cat = category(k.name, shapes, V);
      const fl = k.name === 'BatchMatMul' ? flops(shapes) : 0;
      if (!cat.startsWith('op wrapper')) { total += ms; counted++; }
      const key = `${k.name} ${shapes.map((s) => `[${s}]`).join('×')}`;
      const g = groups.get(key) ?? { ms: 0, calls: 0, fl: 0, cat }; g.ms += ms; g.calls++; g.fl += fl; groups.set(key, g);
      const c = cats.get(cat) ?? { ms: 0, calls: 0, fl: 0 }; c.ms += ms; c.calls++; c.fl += fl; cats.set(cat, c);
    }
    console.log(`\n=== ${m.n}: profiled step wall ${wall.toFixed(0)} ms, kernels ${total.toFixed(0)} ms in ${counted} kernel calls (+ wrappers); wall outside kernels ${(wall - total).toFixed(0)} ms = ${((1000 * (wall - total)) / counted).toFixed(1)} µs per kernel call`);
    console.log('by category:');
    for (const [c, v] of [...cats].sort((a, b) => b[1].ms - a[1].ms)) console.log(`  ${v.ms.toFixed(1).padStart(8)} ms ${c.startsWith('op wrapper') ? '      ' : `${((100 * v.ms) / total).toFixed(1).padStart(5)}%`} ×${String(v.calls).padEnd(5)} ${c}${v.fl ? `  ${(v.fl / 1e9).toFixed(1)} GFLOP, ${(v.fl / (v.ms * 1e6)).toFixed(0)} GFLOP/s` : ''}  avg ${((1000 * v.ms) / v.calls).toFixed(0)} µs/call`);
    console.log('all groups:');
    for (const [k, g] of [...groups].sort((a, b) => b[1].ms - a[1].ms)) console.log(`  ${g.ms.toFixed(2).padStart(8)} ms ×${String(g.calls).padEnd(5)} ${((1000 * g.ms) / g.calls).toFixed(0).padStart(5)} µs/call  ${k}${g.fl ? `  ${(g.fl / (g.ms * 1e6)).toFixed(0)} GFLOP/s` : ''}`);
  }
  for (const m of models) m.model.dispose();
}
main().catch((e) => { console.error(e); process.exit(1); });
