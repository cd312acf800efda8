// `npm run bench`: training speed and memory per preset and backend — tokens/s (median of the
// timed steps), step time, achieved GFLOP/s against the backend's measured plain-matmul peak,
// peak RSS, peak tensor bytes, tensors alive after the last step — and evaluation forward speed.
// `--metrics`: opening a long run's detail in the results panel instead (metricsBench.ts).
// `--tokenize`: the tokenizer's fast encode path against the library's (tokenizerBench.ts).
// `--generate`: many prompts one at a time against batched generation (generateBench.ts).
// Benchmarks are a command, never timed unit tests (these machines are shared and noisy).
import * as tf from '@tensorflow/tfjs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { benchmarkMatMul, checkMemory, initBackend, memoryFits, wasmHeapBytes, type BackendChoice, type BackendReport } from '../core/backend';
import { generate } from '../core/eval/generate';
import { resolveLoraConfig } from '../core/lora/config';
import { linearModules } from '../core/lora/modules';
import type { ModelSpec } from '../core/hf/config';
import type { ActivationMode, CausalLM } from '../core/models/causalLm';
import { buildModel } from '../core/models/load';
import { AdamW, ADAMW_DEFAULTS, clipByGlobalNorm } from '../core/train/optimizer';
import { seededBaseDropout } from '../core/models/baseDropout';
import type { ForwardContext } from '../core/lora/layer';
import { METRICS_CASES, metricsBench, metricsCase } from './metricsBench';
import { PRESETS } from './presets';
import { tokenizerBench } from './tokenizerBench';
import { generateBench } from './generateBench';

interface Result {
  preset: string;
  backend: string;
  threads: number;
  batch: number;
  seqLen: number;
  trainable?: number;
  tokensPerSec?: number;
  stepMs?: number;
  stepMsAll?: number[];
  /** Process CPU time (user + system, all threads) per timed step, median: less sensitive to other load than wall time. */
  cpuMsPerStep?: number;
  gflops?: number;
  peakMatmulGflops: number;
  /** The same check on a large product, [2048,2048]×[2048,2048], where per-call overhead vanishes. */
  peakLargeMatmulGflops: number;
  peakRssMB: number;
  peakTensorMB: number;
  tensorsAfter?: number;
  tensorsBefore?: number;
  evalTokensPerSec?: number;
  /** Greedy generation with the KV cache: new tokens per second after a 16-token prompt. */
  generateTokensPerSec?: number;
  peakWasmHeapMB?: number;
  /** Whether the timed steps kept block activations or recomputed them (CausalLM.activationMode). */
  activations?: string;
  error?: string;
}

interface BenchOptions {
  batch: number;
  seqLen: number;
  warmup: number;
  steps: number;
  activations?: ActivationMode;
  /** `--base-dropout`: the model's own dropout in the training steps, as the trainer applies it by default (new masks each step). */
  baseDropout?: boolean;
}

/** The training context of step i: with the model's own dropout when asked (--base-dropout). */
function trainCtx(opts: BenchOptions, i: number): ForwardContext {
  return opts.baseDropout ? { training: true, baseDropout: seededBaseDropout(i) } : { training: true };
}

interface Peaks {
  small: number;
  large: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

type Spec = ReturnType<typeof PRESETS[string]>['spec'];

/** Forward FLOPs per token: the linear layers, attention (q·kᵀ and p·v) and the LM head. */
function forwardFlopsPerToken(spec: Spec, seqLen: number): { blocks: number; head: number } {
  const linear = linearModules(spec).reduce((s, m) => s + 2 * m.inFeatures * m.outFeatures, 0);
  const attention = spec.numLayers * 4 * seqLen * spec.numHeads * spec.headDim;
  return { blocks: linear + attention, head: 2 * spec.hiddenSize * spec.vocabSize };
}

/** FLOPs of one LoRA training step: forward F plus a backward through the activations (≈ F; frozen weights get no gradient). */
function stepFlops(spec: Spec, tokens: number, seqLen: number): number {
  const f = forwardFlopsPerToken(spec, seqLen);
  return 2 * tokens * (f.blocks + f.head);
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function idsFor(spec: Spec, opts: BenchOptions): number[][] {
  // Token ids in the vocabulary, fixed for every step (speed does not depend on them).
  return Array.from({ length: opts.batch }, (_, b) => Array.from({ length: opts.seqLen }, (_, t) => (b * 7919 + t * 104729) % spec.vocabSize));
}

async function benchPreset(name: string, opts: BenchOptions, peak: Peaks, report: BackendReport): Promise<Result> {
  const { backend, threads } = report;
  let peakRss = process.memoryUsage().rss;
  let peakTensor = 0;
  let peakHeap = 0;
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    peakTensor = Math.max(peakTensor, tf.memory().numBytes);
    peakHeap = Math.max(peakHeap, wasmHeapBytes() ?? 0);
  };
  const base: Result = {
    preset: name, backend, threads, batch: opts.batch, seqLen: opts.seqLen, peakMatmulGflops: peak.small, peakLargeMatmulGflops: peak.large, peakRssMB: 0, peakTensorMB: 0,
  };
  const { spec, model } = benchModel(name, opts, report);
  try {
    const trainable = model.trainableVariables().reduce((s, v) => s + v.size, 0);
    const vars = model.trainableVariables();
    const opt = new AdamW(vars, ADAMW_DEFAULTS);
    const ids = idsFor(spec, opts);
    model.memoryGuard = (where) => {
      sample();
      checkMemory(report, where);
    };
    const times: number[] = [];
    const cpuTimes: number[] = [];
    let tensorsBefore = 0;
    for (let i = 0; i < opts.warmup + opts.steps; i++) {
      if (i === opts.warmup) tensorsBefore = tf.memory().numTensors;
      const t0 = performance.now();
      const c0 = cpuMs();
      const { grads } = model.lossAndGrads(ids, undefined, trainCtx(opts, i));
      sample();
      const clipped = clipByGlobalNorm(grads, 1.0);
      opt.apply(clipped.grads, 1e-4);
      tf.dispose(clipped.grads);
      const ms = performance.now() - t0;
      if (i >= opts.warmup) {
        times.push(ms);
        cpuTimes.push(cpuMs() - c0);
      }
      process.stderr.write(`  ${name}: step ${i + 1}/${opts.warmup + opts.steps} ${(ms / 1000).toFixed(2)} s${i < opts.warmup ? ' (warm-up)' : ''}\n`);
    }
    const tensorsAfter = tf.memory().numTensors;
    opt.dispose();
    const stepMs = median(times);
    const tokens = opts.batch * opts.seqLen;
    // Evaluation speed: forward-only loss on the same batch (one untimed call first: kernels and
    // buffers of the eval shapes are set up then, as the training steps' warm-up does for training).
    tf.dispose(model.loss(ids).loss);
    const t0 = performance.now();
    const reps = 2;
    for (let i = 0; i < reps; i++) tf.dispose(model.loss(ids).loss);
    const evalMs = (performance.now() - t0) / reps;
    // Inference: greedy decoding with the KV cache (32 new tokens after a 16-token prompt), after an untimed short run.
    generate(model, ids[0].slice(0, 16), { maxNewTokens: 2, eosIds: [] });
    const gen = generate(model, ids[0].slice(0, 16), { maxNewTokens: 32, eosIds: [] });
    return {
      ...base, trainable, stepMs, stepMsAll: times.map((t) => Math.round(t)), cpuMsPerStep: median(cpuTimes), tokensPerSec: (tokens / stepMs) * 1000,
      gflops: stepFlops(spec, tokens, opts.seqLen) / (stepMs * 1e6), tensorsBefore, tensorsAfter,
      evalTokensPerSec: (tokens / evalMs) * 1000, peakRssMB: peakRss / 2 ** 20, peakTensorMB: peakTensor / 2 ** 20,
      generateTokensPerSec: (gen.ids.length / gen.ms) * 1000, peakWasmHeapMB: peakHeap ? peakHeap / 2 ** 20 : undefined,
      activations: model.lastActivations?.mode,
    };
  } catch (e) {
    return { ...base, error: (e as Error).message, peakRssMB: peakRss / 2 ** 20, peakTensorMB: peakTensor / 2 ** 20 };
  } finally {
    model.dispose();
  }
}

/**
 * A preset's model as every bench mode uses it: LoRA r=8 (no dropout) on the default targets, the
 * backend's memory rule for keeping activations, and the activation mode asked for.
 */
function benchModel(name: string, opts: BenchOptions, report: BackendReport): { spec: ModelSpec; model: CausalLM } {
  const { spec, source, where } = PRESETS[name]();
  const { model } = buildModel(spec, source, where);
  try {
    model.addAdapter(resolveLoraConfig(spec, { r: 8, loraDropout: 0 }), 0);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.memoryFits = (extra) => memoryFits(report, extra);
  if (opts.activations) model.activationMode = opts.activations;
  return { spec, model };
}

/**
 * `--profile`: one training step (after the warm-up) under tf.profile, kernels grouped by name and
 * input shapes, the most expensive first. Shows where a step's time goes.
 */
async function profilePreset(name: string, opts: BenchOptions, report: BackendReport): Promise<void> {
  const { spec, model } = benchModel(name, opts, report);
  try {
    const ids = idsFor(spec, opts);
    let k = 0;
    const step = () => tf.dispose(model.lossAndGrads(ids, undefined, trainCtx(opts, k++)).grads);
    for (let i = 0; i < Math.max(1, opts.warmup); i++) step();
    const t0 = performance.now();
    const info = await tf.profile(() => {
      step();
      return [];
    });
    const wall = performance.now() - t0;
    // tf.customGrad ops show up as kernels too ('forward', 'unnamed scope'), timing the kernels
    // they run: they are listed but left out of the total, which would count their work twice.
    const wrapper = (n: string) => !tf.getKernel(n, tf.getBackend());
    const groups = new Map<string, { ms: number; calls: number; flops: number }>();
    let total = 0;
    for (const k of info.kernels) {
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      if (!wrapper(k.name)) total += ms;
      const key = `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join('×')}`;
      const g = groups.get(key) ?? { ms: 0, calls: 0, flops: 0 };
      g.ms += ms;
      g.calls++;
      g.flops += k.name === 'BatchMatMul' ? matMulFlops(k.inputShapes as number[][]) : 0;
      groups.set(key, g);
    }
    const byName = new Map<string, number>();
    for (const k of info.kernels) byName.set(k.name, (byName.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
    const mmMs = byName.get('BatchMatMul') ?? 0;
    const mmFlops = [...groups.values()].reduce((a, g) => a + g.flops, 0);
    console.log(`\n${name}: one step (activations: ${model.lastActivations?.mode}), ${(wall / 1000).toFixed(2)} s wall (profiled), kernels ${(total / 1000).toFixed(2)} s, ${info.kernels.length} kernel calls`);
    console.log(`matMul: ${(mmMs / 1000).toFixed(3)} s, ${(mmFlops / 1e9).toFixed(1)} GFLOP, ${(mmFlops / (mmMs * 1e6)).toFixed(1)} GFLOP/s`);
    console.log('\nby kernel:');
    for (const [k, ms] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
      console.log(`  ${(ms / 1000).toFixed(3).padStart(7)} s ${wrapper(k) ? ' (op wrapper, not in the total)' : `${((100 * ms) / total).toFixed(1).padStart(5)}%`}  ${k}`);
    }
    console.log('\nby kernel and input shapes:');
    for (const [k, g] of [...groups].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30)) {
      const rate = g.flops ? `  ${(g.flops / (g.ms * 1e6)).toFixed(0)} GFLOP/s` : '';
      console.log(`  ${(g.ms / 1000).toFixed(3).padStart(7)} s ${((100 * g.ms) / total).toFixed(1).padStart(5)}%  ×${String(g.calls).padEnd(4)} ${k}${rate}`);
    }
  } finally {
    model.dispose();
  }
}

/** 2·M·N·K·batch of a BatchMatMul from its input shapes: the shared dimension is the contracted one, whatever the transposes. */
function matMulFlops(shapes: number[][]): number {
  const [a, b] = shapes;
  if (!a || !b || a.length < 2 || b.length < 2) return 0;
  const batch = Math.max(a.slice(0, -2).reduce((x, y) => x * y, 1), b.slice(0, -2).reduce((x, y) => x * y, 1));
  const [p, q] = a.slice(-2);
  const [r, t] = b.slice(-2);
  const mnk = q === r ? p * q * t : q === t ? p * q * r : p === r ? q * p * t : q * p * r;
  return 2 * batch * mnk;
}

/**
 * `--parts`: where a training step's time goes, part by part (CausalLM.onPart: forward, LM head,
 * backward; then gradient clipping + AdamW), with each part's GFLOP/s; then evaluation's forward
 * and one decoding step. Medians over the timed steps.
 */
async function partsPreset(name: string, opts: BenchOptions, peak: Peaks, report: BackendReport): Promise<void> {
  const { spec, model } = benchModel(name, opts, report);
  try {
    const opt = new AdamW(model.trainableVariables(), ADAMW_DEFAULTS);
    const ids = idsFor(spec, opts);
    const parts = new Map<string, number[]>();
    const add = (k: string, ms: number) => parts.set(k, [...(parts.get(k) ?? []), ms]);
    for (let i = 0; i < opts.warmup + opts.steps; i++) {
      const timed = i >= opts.warmup;
      model.onPart = timed ? add : undefined;
      const t0 = performance.now();
      const { grads } = model.lossAndGrads(ids, undefined, trainCtx(opts, i));
      const t1 = performance.now();
      const clipped = clipByGlobalNorm(grads, 1.0);
      opt.apply(clipped.grads, 1e-4);
      tf.dispose(clipped.grads);
      const t2 = performance.now();
      if (timed) {
        add('optimizer', t2 - t1);
        add('step', t2 - t0);
      }
    }
    model.onPart = undefined;
    opt.dispose();
    const tokens = opts.batch * opts.seqLen;
    const f = forwardFlopsPerToken(spec, opts.seqLen);
    // Backward through the blocks: one product per forward product (dx; frozen weights get no gradient).
    const flops: Record<string, number> = {
      forward: tokens * f.blocks, head: 2 * tokens * f.head, backward: tokens * f.blocks * (model.lastActivations?.mode === 'recompute' ? 2 : 1),
      step: stepFlops(spec, tokens, opts.seqLen),
    };
    const evalMs: number[] = [];
    tf.dispose(model.loss(ids).loss);
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      tf.dispose(model.loss(ids).loss);
      evalMs.push(performance.now() - t0);
    }
    parts.set('eval forward (loss)', evalMs);
    flops['eval forward (loss)'] = tokens * (f.blocks + f.head);
    const prompt = ids[0].slice(0, 16);
    generate(model, prompt, { maxNewTokens: 2, eosIds: [] });
    const g = generate(model, prompt, { maxNewTokens: 33, eosIds: [] });
    const first = generate(model, prompt, { maxNewTokens: 1, eosIds: [] });
    parts.set('decode: one new token', [(g.ms - first.ms) / 32]);
    flops['decode: one new token'] = forwardFlopsPerToken(spec, 32).blocks + f.head;
    const stepMs = median(parts.get('step')!);
    console.log(`\n${name} on ${report.backend} ×${report.threads}, batch ${opts.batch} × ${opts.seqLen}, activations ${model.lastActivations?.mode}; matMul peak ${peak.small.toFixed(0)} ([512,768]×[768,768]) / ${peak.large.toFixed(0)} (2048³) GFLOP/s`);
    console.log('| part | ms (median) | share of the step | GFLOP/s | % of the 2048³ peak |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const [k, xs] of parts) {
      const ms = median(xs);
      const share = ['forward', 'head', 'backward', 'optimizer'].includes(k) ? `${((100 * ms) / stepMs).toFixed(1)}%` : '';
      const rate = flops[k] ? flops[k] / (ms * 1e6) : undefined;
      console.log(`| ${k} | ${ms.toFixed(1)} | ${share} | ${rate ? rate.toFixed(1) : '—'} | ${rate ? `${((100 * rate) / peak.large).toFixed(0)}%` : '—'} |`);
    }
  } finally {
    model.dispose();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      preset: { type: 'string', default: 'sample,distilgpt2' },
      backend: { type: 'string', default: 'auto' },
      threads: { type: 'string' },
      batch: { type: 'string', default: '4' },
      'seq-len': { type: 'string', default: '128' },
      warmup: { type: 'string', default: '2' },
      steps: { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      parts: { type: 'boolean', default: false },
      activations: { type: 'string', default: 'auto' },
      'base-dropout': { type: 'boolean', default: false },
      metrics: { type: 'boolean', default: false },
      'metrics-steps': { type: 'string', default: '1000000' },
      'eval-every': { type: 'string', default: '1000' },
      'metrics-cases': { type: 'string', default: METRICS_CASES.join(',') },
      // Internal: the child process of one --metrics case.
      'metrics-case': { type: 'string' },
      'metrics-dir': { type: 'string' },
      'metrics-repeat': { type: 'string', default: '3' },
      tokenize: { type: 'boolean', default: false },
      'tokenize-model': { type: 'string', default: 'samples/model' },
      'tokenize-rows': { type: 'string', default: '20000' },
      'tokenize-repeat': { type: 'string', default: '3' },
      generate: { type: 'boolean', default: false },
      'generate-prompts': { type: 'string', default: '16' },
      'generate-tokens': { type: 'string', default: '32' },
      'generate-batches': { type: 'string', default: '4,8,16' },
      repeat: { type: 'string', default: '3' },
    },
  });
  if (values.tokenize) {
    const rows = Number(values['tokenize-rows']);
    const repeat = Number(values['tokenize-repeat']);
    if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(repeat) || repeat < 1) throw new Error('--tokenize-rows and --tokenize-repeat must be whole numbers ≥ 1');
    tokenizerBench(values['tokenize-model']!, rows, repeat);
    return;
  }
  if (values['metrics-case']) {
    const c = METRICS_CASES.find((x) => x === values['metrics-case']);
    if (!c) throw new Error(`--metrics-case must be one of ${METRICS_CASES.join(', ')}, got "${values['metrics-case']}"`);
    metricsCase(c, values['metrics-dir']!, Math.max(1, Number(values['metrics-repeat'])));
    return;
  }
  if (values.metrics) {
    const steps = Number(values['metrics-steps']);
    const evalEvery = Number(values['eval-every']);
    if (!Number.isInteger(steps) || steps < 1 || !Number.isInteger(evalEvery) || evalEvery < 1) throw new Error('--metrics-steps and --eval-every must be whole numbers ≥ 1');
    const cases = values['metrics-cases']!.split(',').map((x) => {
      const c = METRICS_CASES.find((m) => m === x);
      if (!c) throw new Error(`--metrics-cases: "${x}" is not one of ${METRICS_CASES.join(', ')}`);
      return c;
    });
    metricsBench(steps, evalEvery, cases);
    return;
  }
  const names = values.preset!.split(',');
  for (const n of names) if (!PRESETS[n]) throw new Error(`unknown preset "${n}"; presets: ${Object.keys(PRESETS).join(', ')}`);
  const report = await initBackend(values.backend as BackendChoice, { threads: values.threads ? Number(values.threads) : undefined });
  const peak: Peaks = { small: benchmarkMatMul().gflops, large: benchmarkMatMul(2048, 2048, 2048, 3).gflops };
  const onednn = report.backend.startsWith('tensorflow') ? `; TF_ENABLE_ONEDNN_OPTS=${process.env.TF_ENABLE_ONEDNN_OPTS ?? '(unset)'}` : '';
  // Whether LoRA Lab's fused kernels run (a build from another source is refused: the figures would be without them).
  const f = report.native?.fusedOps;
  const fused = f ? (f.loaded ? `; fused kernels: ${f.ops?.length ?? 0}${f.lanes ? `, ${f.lanes} lanes` : ''}` : `; fused kernels OFF: ${f.reason}`) : '';
  process.stderr.write(
    `backend ${report.backend} (${report.threads} threads${onednn}${fused}); plain 2-D matMul [512,768]×[768,768]: ${peak.small.toFixed(1)} GFLOP/s, [2048,2048]×[2048,2048]: ${peak.large.toFixed(1)} GFLOP/s\n`,
  );
  if (values.generate) {
    const n = (v: string | undefined, flag: string): number => {
      const x = Number(v);
      if (!Number.isInteger(x) || x < 1) throw new Error(`--${flag} must be a whole number ≥ 1, got "${v}"`);
      return x;
    };
    const batchSizes = values['generate-batches']!.split(',').map((b) => n(b, 'generate-batches'));
    const o = { prompts: n(values['generate-prompts'], 'generate-prompts'), newTokens: n(values['generate-tokens'], 'generate-tokens'), repeat: n(values.repeat, 'repeat'), batchSizes };
    await generateBench(names, o, `${report.backend} ×${report.threads}`);
    return;
  }
  const activations = values.activations as ActivationMode;
  if (!['auto', 'keep', 'recompute'].includes(activations)) throw new Error(`--activations must be auto, keep or recompute, got "${activations}"`);
  const opts: BenchOptions = { batch: Number(values.batch), seqLen: Number(values['seq-len']), warmup: Number(values.warmup), steps: Number(values.steps), activations, baseDropout: values['base-dropout'] };
  if (values.profile) {
    for (const n of names) await profilePreset(n, opts, report);
    return;
  }
  if (values.parts) {
    for (const n of names) await partsPreset(n, opts, peak, report);
    return;
  }
  const results: Result[] = [];
  for (const n of names) results.push(await benchPreset(n, opts, peak, report));
  if (values.json) {
    console.log(JSON.stringify({ machine: machine(), results }, null, 2));
    return;
  }
  console.log(`\n${machine()}\nbatch ${opts.batch} × ${opts.seqLen} tokens, LoRA r=8 on default targets, AdamW; ${opts.warmup} warm-up + ${opts.steps} timed steps\n`);
  console.log('| preset | backend | activations | train tokens/s | step (s) | CPU s/step | GFLOP/s (matmul peak small / 2048³) | peak RSS | peak tensors | wasm heap | tensors after (Δ) | eval tok/s | generate tok/s |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    if (r.error) {
      console.log(`| ${r.preset} | ${r.backend} ×${r.threads} | — | — | — | — | — (${r.peakMatmulGflops.toFixed(0)} / ${r.peakLargeMatmulGflops.toFixed(0)}) | ${r.peakRssMB.toFixed(0)} MB | ${r.peakTensorMB.toFixed(0)} MB | — | — | — | error: ${r.error} |`);
      continue;
    }
    console.log(
      `| ${r.preset} | ${r.backend} ×${r.threads} | ${r.activations} | ${r.tokensPerSec!.toFixed(1)} | ${(r.stepMs! / 1000).toFixed(2)} | ${(r.cpuMsPerStep! / 1000).toFixed(2)} | ` +
        `${r.gflops!.toFixed(1)} (${r.peakMatmulGflops.toFixed(0)} / ${r.peakLargeMatmulGflops.toFixed(0)}) | ` +
        `${r.peakRssMB.toFixed(0)} MB | ${r.peakTensorMB.toFixed(0)} MB | ${r.peakWasmHeapMB ? `${r.peakWasmHeapMB.toFixed(0)} MB` : '—'} | ${r.tensorsAfter} (${r.tensorsAfter! - r.tensorsBefore!}) | ` +
        `${r.evalTokensPerSec!.toFixed(0)} | ${r.generateTokensPerSec!.toFixed(1)} |`,
    );
  }
}

function machine(): string {
  return `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.versions.node}, tfjs ${tf.version.tfjs}`;
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
