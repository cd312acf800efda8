// Decoding micro-probe (not part of the build): what one decoded token is made of, per backend.
//   - memory bandwidth: a JS copy / read of 256 MB (one thread) and the backend's own sum of it;
//   - per-op overhead: tiny elementwise ops, reshapes, tf.tidy, dataSync of one logits row;
//   - one-row products (gemv) of the gpt2 and smollm-135m shapes, plain and with transposeB,
//     each with the GB/s of its weight read;
//   - one decoded token of gpt2 / smollm-135m under tf.profile: kernel time by group against the
//     wall time of nextLogits + dataSync (the rest is JS / dispatch outside kernels).
// One backend per process; run-probe.sh alternates them. Build: see run-probe.sh.
import * as tf from '@tensorflow/tfjs';
import { benchmarkMatMul, initBackend, type BackendChoice } from '../../../../src/core/backend';
import { KvCache } from '../../../../src/core/models/kvCache';
import { resolveLoraConfig } from '../../../../src/core/lora/config';
import { buildModel } from '../../../../src/core/models/load';
import { PRESETS } from '../../../../src/bench/presets';
import { GraphBuilder, NativeGraph } from '../../../../src/core/models/decodeGraph';

const now = () => performance.now();
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const min = (xs: number[]) => Math.min(...xs);

function timeIt(reps: number, f: () => void): number[] {
  f();
  const out: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = now();
    f();
    out.push(now() - t0);
  }
  return out;
}

function bandwidth(): void {
  const n = 64 * 2 ** 20; // 256 MB of float32
  const a = new Float32Array(n).fill(1);
  const b = new Float32Array(n);
  const copy = timeIt(5, () => b.set(a));
  let s = 0;
  const read = timeIt(3, () => {
    let acc = 0;
    for (let i = 0; i < n; i += 1) acc += a[i];
    s += acc;
  });
  const big = tf.tensor1d(a);
  const tsum = timeIt(5, () => tf.sum(big).dataSync());
  big.dispose();
  const gb = (4 * n) / 1e9;
  console.log(
    `bandwidth: JS copy 256 MB ${min(copy).toFixed(1)} ms = ${((2 * gb) / (min(copy) / 1e3)).toFixed(1)} GB/s (read+write); ` +
      `JS read loop ${(gb / (min(read) / 1e3)).toFixed(1)} GB/s; ${tf.getBackend()} sum ${min(tsum).toFixed(1)} ms = ${(gb / (min(tsum) / 1e3)).toFixed(1)} GB/s read${s < 0 ? '!' : ''}`,
  );
}

function overhead(): void {
  const x = tf.randomNormal([1, 768]);
  const y = tf.randomNormal([1, 768]);
  const N = 2000;
  const loop = (f: () => tf.Tensor) => {
    const ts = timeIt(5, () => {
      for (let i = 0; i < N; i++) f().dispose();
    });
    return (min(ts) / N) * 1000; // µs per op
  };
  const add = loop(() => x.add(y));
  const mul = loop(() => x.mul(y));
  const reshape = loop(() => x.reshape([768, 1]));
  const sum = loop(() => x.sum(-1, true));
  const scalarMul = loop(() => x.mul(0.5)); // a JS number: one more upload
  const tidy = (min(timeIt(5, () => {
    for (let i = 0; i < N; i++) tf.tidy(() => x);
  })) / N) * 1000;
  const upload = loop(() => tf.tensor2d([[3]], [1, 1], 'int32'));
  const row = tf.randomNormal([1, 50257]);
  const ds = timeIt(50, () => {
    const r = row.add(0);
    r.dataSync();
    r.dispose();
  });
  console.log(
    `per-op µs: add ${add.toFixed(1)}, mul ${mul.toFixed(1)}, mul by JS number ${scalarMul.toFixed(1)}, reshape ${reshape.toFixed(1)}, sum ${sum.toFixed(1)}, ` +
      `upload 1 int ${upload.toFixed(1)}, tf.tidy ${tidy.toFixed(2)}; add+dataSync of [1,50257] ${(med(ds) * 1000).toFixed(0)} µs`,
  );
  tf.dispose([x, y, row]);
}

function gemv(label: string, k: number, n: number): string {
  const x = tf.randomNormal([1, k]);
  const w = tf.randomNormal([k, n]);
  const wt = tf.randomNormal([n, k]);
  const reps = n > 10000 ? 15 : 60;
  const res: string[] = [];
  for (const [name, f] of [
    ['plain', () => tf.matMul(x, w)],
    ['tB', () => tf.matMul(x, wt, false, true)],
  ] as [string, () => tf.Tensor][]) {
    // Many weights in turn, as decoding does (a gpt2 token reads ~0.5 GB, far past the 32 MB L3): the
    // same weight again and again would be served from cache. Here: one weight, min and median,
    // and the same after reading 64 MB (cold).
    const warm = timeIt(reps, () => f().dataSync());
    res.push(`${name} ${(med(warm) * 1000).toFixed(0)} µs (${((4 * k * n) / 1e9 / (med(warm) / 1e3)).toFixed(1)} GB/s)`);
  }
  tf.dispose([x, w, wt]);
  return `${label} [1,${k}]×[${k},${n}]: ${res.join(', ')}`;
}

/** Many distinct weights of one shape in turn (as in decoding: nothing stays in cache). */
function gemvCold(label: string, k: number, n: number, count: number): string {
  const x = tf.randomNormal([1, k]);
  const ws = Array.from({ length: count }, () => tf.randomNormal([k, n]));
  const wts = Array.from({ length: count }, () => tf.randomNormal([n, k]));
  const run = (tb: boolean) =>
    timeIt(5, () => {
      tf.tidy(() => {
        let last: tf.Tensor | undefined;
        for (let i = 0; i < count; i++) last = tb ? tf.matMul(x, wts[i], false, true) : tf.matMul(x, ws[i]);
        last!.dataSync();
      });
    });
  const p = min(run(false)) / count;
  const t = min(run(true)) / count;
  const gb = (4 * k * n) / 1e9;
  tf.dispose([x, ...ws, ...wts]);
  return `${label} ×${count} distinct [1,${k}]×[${k},${n}]: plain ${(p * 1000).toFixed(0)} µs (${(gb / (p / 1e3)).toFixed(1)} GB/s), tB ${(t * 1000).toFixed(0)} µs (${(gb / (t / 1e3)).toFixed(1)} GB/s)`;
}

async function token(name: string): Promise<void> {
  const { spec, source, where } = PRESETS[name]();
  const { model } = buildModel(spec, source, where);
  model.addAdapter(resolveLoraConfig(spec, { r: 8, loraDropout: 0 }), 0);
  const prompt = Array.from({ length: 16 }, (_, t) => (t * 104729) % spec.vocabSize);
  const cache = new KvCache(spec.numLayers);
  tf.dispose(model.nextLogits([prompt], cache));
  const step = () => {
    const l = model.nextLogits([[5]], cache);
    l.dataSync();
    l.dispose();
  };
  for (let i = 0; i < 3; i++) step();
  const wall = timeIt(9, step);
  if (process.env.WALLS) console.log(wall.map((x) => x.toFixed(1)).join(" "));
  const prof = await tf.profile(() => step());
  const groups = new Map<string, { n: number; ms: number }>();
  for (const k of prof.kernels) {
    const ms = Number(k.kernelTimeMs);
    let g = k.name;
    if (k.name === 'BatchMatMul' || k.name === '_FusedMatMul' || k.name === 'MatMul') g = `matMul ${JSON.stringify(k.inputShapes)}`;
    const e = groups.get(g) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += ms;
    groups.set(g, e);
  }
  const total = [...groups.values()].reduce((a, b) => a + b.ms, 0);
  const sorted = [...groups].sort((a, b) => b[1].ms - a[1].ms);
  console.log(
    `${name} ${tf.getBackend()}: token wall ${med(wall).toFixed(1)} ms (min ${min(wall).toFixed(1)}) = ${(1000 / med(wall)).toFixed(1)} tok/s; ` +
      `${prof.kernels.length} kernels, kernel time ${total.toFixed(1)} ms (under tf.profile), cache length ${cache.length}`,
  );
  for (const [g, e] of sorted.slice(0, 14)) console.log(`   ${e.ms.toFixed(2).padStart(7)} ms ${String(e.n).padStart(4)}× ${g}`);
  cache.dispose();
  model.dispose();
}

/**
 * The products of one decoded token alone (distinct weights of the model's shapes, as in decoding:
 * nothing stays in cache), op by op and (native) as one graph: the matMul floor of a token.
 */
function productsFloor(label: string, k: number[][], layers: number, head: [number, number]): void {
  const shapes = [...Array.from({ length: layers }, () => k).flat(), head];
  const ws = shapes.map(([a, b]) => tf.randomNormal([a, b]));
  const xs = new Map<number, tf.Tensor>();
  for (const [a] of shapes) if (!xs.has(a)) xs.set(a, tf.randomNormal([1, a]));
  const eager = () => tf.tidy(() => {
    const outs = shapes.map(([a], i) => tf.matMul(xs.get(a)!, ws[i]));
    outs[outs.length - 1].dataSync();
  });
  const bytes = shapes.reduce((s, [a, b]) => s + 4 * a * b, 0);
  const e = timeIt(7, eager);
  let graphMs = NaN;
  if (tf.getBackend() === 'tensorflow') {
    const g = new GraphBuilder();
    const ins: { name: string; dtype: 'float32' }[] = [];
    const xin = new Map<number, string>();
    for (const a of xs.keys()) {
      ins.push({ name: `x${a}`, dtype: 'float32' });
      xin.set(a, g.placeholder(`x${a}`));
    }
    const outs = shapes.map(([a], i) => {
      ins.push({ name: `w${i}`, dtype: 'float32' });
      return g.matMul(xin.get(a)!, g.placeholder(`w${i}`));
    });
    const graph = NativeGraph.load(g, ins, outs);
    const feed = [...xs.values(), ...ws];
    const run = () => tf.tidy(() => { const o = graph.run(feed); o[o.length - 1].dataSync(); });
    graphMs = min(timeIt(7, run));
    graph.dispose();
  }
  console.log(
    `${label} products of one token (${shapes.length} matMuls, ${(bytes / 1e6).toFixed(0)} MB of weights): op by op ${min(e).toFixed(1)} ms (${(bytes / 1e9 / (min(e) / 1e3)).toFixed(1)} GB/s)` +
      (Number.isNaN(graphMs) ? '' : `, one graph ${graphMs.toFixed(1)} ms (${(bytes / 1e9 / (graphMs / 1e3)).toFixed(1)} GB/s)`),
  );
  tf.dispose([...ws, ...xs.values()]);
}

async function main(): Promise<void> {
  const [backend, what = 'all', label = ''] = process.argv.slice(2);
  const report = await initBackend(backend as BackendChoice, {});
  const small = benchmarkMatMul().gflops;
  const large = benchmarkMatMul(2048, 2048, 2048, 3).gflops;
  console.log(`== ${label} ${report.backend} threads ${report.threads}; matMul peak ${small.toFixed(0)} / ${large.toFixed(0)} GFLOP/s; onednn ${process.env.TF_ENABLE_ONEDNN_OPTS ?? '-'}`);
  const parts = what.split(',');
  const all = parts.includes('all');
  if (all || parts.includes('bw')) bandwidth();
  if (all || parts.includes('ops')) overhead();
  if (all || parts.includes('gemv')) {
    for (const [l, k, n] of [
      ['gpt2 qkv', 768, 2304], ['gpt2 proj', 768, 768], ['gpt2 fc', 768, 3072], ['gpt2 mlp', 3072, 768], ['gpt2 head', 768, 50257],
      ['smollm qkv', 576, 960], ['smollm gate', 576, 1536], ['smollm down', 1536, 576], ['smollm head', 576, 49152],
    ] as [string, number, number][]) console.log(gemv(l, k, n));
    console.log(gemvCold('gpt2 fc', 768, 3072, 24));
    console.log(gemvCold('smollm gate', 576, 1536, 60));
  }
  if (all || parts.includes('floor')) {
    productsFloor('gpt2', [[768, 2304], [768, 768], [768, 3072], [3072, 768]], 12, [768, 50257]);
    productsFloor('smollm-135m', [[576, 960], [576, 576], [576, 1536], [576, 1536], [1536, 576]], 30, [576, 49152]);
  }
  for (const p of parts) if (PRESETS[p]) await token(p);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
