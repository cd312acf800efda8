// Evaluation of a base model, the base with its LoRA adapter (unmerged) and the merged model on
// tokenized examples: mean next-token loss, perplexity and token accuracy over loss-bearing
// tokens; the merge check (merged ≈ adapter logits) and the effect check (adapter ≠ base); and
// greedy + sampled generations side by side (generate.ts). Progress goes to `onPhase`: batch k/K
// while scoring, prompt k/K while generating.
import { EVAL_FILE } from '../../protocol/evaluation';
import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeBatch } from '../data/batches';
import type { Example } from '../data/types';
import { sideBySide } from './sideBySide';
import type { LoraConfig } from '../lora/config';
import { buildMergedModel, weightsPrecision } from '../peft/merge';
import type { CausalLM } from '../models/causalLm';
import type { PeftAdapter } from '../peft/adapterFolder';
import { writeFileAtomic } from '../util/durableFiles';
import type { LoraTokenizer } from '../hf/tokenizer';
import type { EffectCheck, EvalOptions, EvalReport, MergeCheck, ModelRole, ModelScores, WeightsDtype } from '../../protocol/evaluation';
import type { PhaseEvent } from '../../protocol/progress';

export type { EvalOptions, EvalReport, ModelRole, ModelScores } from '../../protocol/evaluation';

/** Merged and adapter logits may differ by float32 rounding (~1e-6 here); a wrong merge differs by the adapter's own effect. */
export const MERGE_CHECK_THRESHOLD = 1e-3;
/**
 * Unit roundoff of half-precision merged weights. Rounding every weight by up to u (relative) moves
 * logits by about u·|logit| per layer, partly cancelling; the merge check allows 8·u·max|logit| on
 * top of 1e-3 (BF16 logits of size 10: 0.31; F16: 0.04), far below a wrong merge's error, which is
 * of the order of the adapter's whole effect.
 */
export const UNIT_ROUNDOFF: Record<'F16' | 'BF16', number> = { F16: 2 ** -11, BF16: 2 ** -8 };
/**
 * Mean |Δ logit| at or below which an adapter counts as having no effect. A logit shift of δ moves
 * any log-probability by at most 2δ, so 1e-5 changes the loss by ~1e-5 nats at most: nothing
 * measurable, yet ~100× the float32 noise of logits of size ~10. A fresh adapter (B = 0) gives 0.
 */
export const NO_EFFECT_THRESHOLD = 1e-5;
/** Logit floats materialised per model per batch (bounds memory: 8M floats = 32 MB). */
const LOGIT_BUDGET = 8_000_000;

export const DEFAULT_EVAL_OPTIONS: EvalOptions = { batchSize: 4, prompts: 3, maxNewTokens: 32, temperature: 0.8, topP: 0.95, seed: 0 };

export interface EvalSetup {
  /** The base model. With `adapter`, the adapter is installed on it and removed as needed; it is left installed. */
  model: CausalLM;
  adapter?: { config: LoraConfig; tensors: PeftAdapter['tensors'] };
  merged?: CausalLM;
  /** Precision of the merged model's weights as stored (the threshold of the merge check depends on it). */
  mergedDtype?: 'F32' | 'F16' | 'BF16';
  examples: readonly Pick<Example, 'ids' | 'weights'>[];
  padId: number;
  tokenizer?: LoraTokenizer;
  options?: Partial<EvalOptions>;
  sources: EvalReport['sources'];
  notes?: string[];
  /** Told as each batch is scored and each prompt generated from. */
  onPhase?: (e: PhaseEvent) => void;
  /** Stops between batches (and between generations) with an AbortError. */
  signal?: AbortSignal;
}

class Scores {
  nll = 0;
  weight = 0;
  tokens = 0;
  correct = 0;
  result(): ModelScores {
    const loss = this.weight > 0 ? this.nll / this.weight : NaN;
    return { loss, perplexity: Math.exp(loss), tokens: this.tokens, accuracy: this.tokens ? this.correct / this.tokens : NaN };
  }
}

/** What the comparisons between models gather over the batches: for the merge check and the effect check. */
interface Comparisons {
  /** max |logit(merged) − logit(adapter)| and max |logit(adapter)|. */
  mergeMax: number;
  logitMax: number;
  /** Σ |logit(tuned) − logit(base)| over effectCount logits. */
  effectSum: number;
  effectCount: number;
}

function logitsOf(model: CausalLM, ids: number[][]): Float32Array {
  const t = model.logits(ids);
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return data;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The batches, in order: as many rows as fit the logit budget (at least one), at most batchSize.
 * Planned ahead so the evaluation can say "batch k of K".
 */
export function planBatches(examples: readonly Pick<Example, 'ids'>[], batchSize: number, vocabSize: number): number[][] {
  const batches: number[][] = [];
  for (let i = 0; i < examples.length;) {
    const idx: number[] = [];
    let longest = 0;
    while (i < examples.length && idx.length < batchSize) {
      const len = Math.max(longest, examples[i].ids.length);
      if (idx.length > 0 && (idx.length + 1) * len * vocabSize > LOGIT_BUDGET) break;
      idx.push(i++);
      longest = len;
    }
    batches.push(idx);
  }
  return batches;
}

/** Loss-bearing positions of a batch: where its logits start in the flat [B·T·V] array, the target id and its weight. */
function lossPositions(b: { ids: number[][]; weights: number[][] }, V: number): { at: number; target: number; w: number }[] {
  const T = b.ids[0].length;
  const pos: { at: number; target: number; w: number }[] = [];
  b.ids.forEach((row, r) => {
    for (let t = 0; t + 1 < T; t++) if (b.weights[r][t + 1] > 0) pos.push({ at: (r * T + t) * V, target: row[t + 1], w: b.weights[r][t + 1] });
  });
  return pos;
}

/** Adds one model's logits at the loss positions to its scores: weighted NLL (log-sum-exp) and argmax hits. */
function addScores(sc: Scores, l: Float32Array, pos: { at: number; target: number; w: number }[], V: number): void {
  for (const p of pos) {
    let arg = p.at;
    for (let v = p.at + 1; v < p.at + V; v++) if (l[v] > l[arg]) arg = v;
    const max = l[arg];
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(l[p.at + v] - max);
    sc.nll += p.w * (max + Math.log(sum) - l[p.at + p.target]);
    sc.weight += p.w;
    sc.tokens++;
    if (arg - p.at === p.target) sc.correct++;
  }
}

/** Adds a batch's logit differences: merged vs adapter (merge check), tuned vs base (effect check). */
function addComparisons(c: Comparisons, logits: Partial<Record<ModelRole, Float32Array>>, pos: { at: number }[], V: number): void {
  const tuned = logits.adapter ?? logits.merged;
  for (const p of pos) {
    for (let v = p.at; v < p.at + V; v++) {
      if (logits.adapter && logits.merged) {
        c.mergeMax = Math.max(c.mergeMax, Math.abs(logits.merged[v] - logits.adapter[v]));
        c.logitMax = Math.max(c.logitMax, Math.abs(logits.adapter[v]));
      }
      if (tuned) c.effectSum += Math.abs(tuned[v] - logits.base![v]);
    }
    c.effectCount += V;
  }
}

function mergeCheckOf(c: Comparisons, dtype: WeightsDtype): MergeCheck {
  const threshold = dtype === 'F32' ? MERGE_CHECK_THRESHOLD : MERGE_CHECK_THRESHOLD + 8 * UNIT_ROUNDOFF[dtype] * c.logitMax;
  const flagged = !(c.mergeMax <= threshold);
  const half = dtype === 'F32' ? '' : ` (weights stored as ${dtype}: the threshold allows for their rounding)`;
  return {
    maxAbsLogitDiff: c.mergeMax, threshold, flagged, mergedDtype: dtype,
    message: flagged ? `merged logits differ from the adapter's by up to ${c.mergeMax.toExponential(2)}${half}: the merged model does not reproduce the adapter` : `merged model reproduces the adapter${half}`,
  };
}

function effectCheckOf(c: Comparisons, compared: EffectCheck['compared']): EffectCheck {
  const mean = c.effectCount ? c.effectSum / c.effectCount : 0;
  const flagged = !(mean > NO_EFFECT_THRESHOLD);
  return {
    meanAbsLogitDiff: mean, threshold: NO_EFFECT_THRESHOLD, flagged, compared,
    message: flagged ? 'adapter has no effect: its logits equal the base model\'s (B is still ~0: train longer or raise the learning rate)' : 'adapter changes the model',
  };
}

export async function evaluateModels(s: EvalSetup): Promise<EvalReport> {
  const given = Object.entries(s.options ?? {}).filter(([, v]) => v !== undefined);
  const o: EvalOptions = { ...DEFAULT_EVAL_OPTIONS, ...Object.fromEntries(given) };
  const { model, adapter, merged } = s;
  const V = model.spec.vocabSize;
  if (merged && merged.spec.vocabSize !== V) throw new Error(`the merged model has ${merged.spec.vocabSize} tokens, the base ${V}: they are not the same model`);
  const setAdapter = (on: boolean) => {
    if (!adapter || on === (model.loraConfig !== undefined)) return;
    if (on) model.loadAdapter(adapter.config, adapter.tensors);
    else model.removeAdapter();
  };
  const roles: ModelRole[] = ['base', ...(adapter ? ['adapter' as const] : []), ...(merged ? ['merged' as const] : [])];
  const scores = Object.fromEntries(roles.map((r) => [r, new Scores()])) as Record<ModelRole, Scores>;
  const compared: Comparisons = { mergeMax: 0, logitMax: 0, effectSum: 0, effectCount: 0 };
  const batches = planBatches(s.examples, o.batchSize, V);
  const t0 = performance.now();
  const evaluating = (done: number) => s.onPhase?.({ type: 'phase', phase: 'evaluating', done, total: batches.length, elapsedMs: performance.now() - t0, detail: roles.join(', ') });
  evaluating(0);
  try {
    for (const [k, idx] of batches.entries()) {
      s.signal?.throwIfAborted();
      const b = makeBatch(s.examples, idx, s.padId);
      const pos = lossPositions(b, V);
      if (pos.length > 0) {
        const logits: Partial<Record<ModelRole, Float32Array>> = {};
        // Whichever state the adapter is in first, so it toggles at most once per batch.
        for (const role of model.loraConfig ? (['adapter', 'base'] as const) : (['base', 'adapter'] as const)) {
          if (role === 'adapter' && !adapter) continue;
          setAdapter(role === 'adapter');
          logits[role] = logitsOf(model, b.ids);
        }
        if (merged) logits.merged = logitsOf(merged, b.ids);
        for (const role of roles) addScores(scores[role], logits[role]!, pos, V);
        addComparisons(compared, logits, pos, V);
      }
      evaluating(k + 1);
      await yieldToEventLoop(); // a cancel or progress message can get through between batches
    }
    const scoringMs = performance.now() - t0;
    const report: EvalReport = {
      formatVersion: 1, createdAt: new Date().toISOString(), sources: s.sources, examples: s.examples.length,
      ...Object.fromEntries(roles.map((r) => [r, scores[r].result()])),
      generation: { maxNewTokens: o.maxNewTokens, temperature: o.temperature, topP: o.topP, seed: o.seed, eosIds: eosIds(model, s.tokenizer) },
      generations: [], timings: { scoringMs, generationMs: 0 }, notes: [...(s.notes ?? [])],
    };
    if (adapter && merged) report.mergeCheck = mergeCheckOf(compared, s.mergedDtype ?? 'F32');
    if (adapter || merged) report.effectCheck = effectCheckOf(compared, adapter ? 'adapter' : 'merged');
    const g0 = performance.now();
    report.generations = await sideBySide({
      ...s, ...o, hasAdapter: adapter !== undefined, eosIds: report.generation.eosIds, setAdapter,
      onProgress: (done, total) => s.onPhase?.({ type: 'phase', phase: 'generating', done, total, elapsedMs: performance.now() - g0 }),
    });
    report.timings.generationMs = performance.now() - g0;
    return report;
  } finally {
    setAdapter(true);
  }
}

/** EOS ids from config.json and the tokenizer. */
function eosIds(model: CausalLM, tokenizer?: LoraTokenizer): number[] {
  const ids = [model.spec.eosTokenId ?? []].flat();
  if (tokenizer?.special.eos) ids.push(tokenizer.special.eos.id);
  return [...new Set(ids)];
}

/** Writes eval.json (atomically: a temp file renamed over it). */
export function writeEvalReport(file: string, report: EvalReport): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileAtomic(path.resolve(file), JSON.stringify(report, null, 2) + '\n');
}

export { EVAL_FILE };

/**
 * The end-of-run evaluation of a training session: base, adapter and merged model (built in memory
 * from the base files exactly as `lora-lab merge` would write it, when a second copy of the weights
 * fits under the memory limit) on the validation split; writes <runDir>/eval.json.
 */
export async function evaluateRun(r: {
  model: CausalLM; modelDir: string; valid: readonly Pick<Example, 'ids' | 'weights'>[]; padId: number; tokenizer?: LoraTokenizer;
  runDir: string; adapterDir: string; seed: number; batchSize: number; memoryLimitBytes?: number;
  /** Where the validation examples come from (eval.json's sources.data). */
  dataSource?: string;
  onPhase?: (e: PhaseEvent) => void;
  /** A cancel stops the evaluation between batches and prompts (an AbortError): the adapter is saved by then. */
  signal?: AbortSignal;
}): Promise<{ path: string; report: EvalReport }> {
  if (!r.model.loraConfig) throw new Error('the model has no adapter to evaluate');
  // As saved: for PiSSA/OLoRA the converted adapter, so base is the original model and merged = W + ΔW.
  const saved = r.model.adapters.peftForm();
  const config = saved.config;
  const tensors = new Map(saved.tensors.map((t) => [t.name, { shape: t.shape, data: t.data }]));
  const notes: string[] = [];
  let merged: CausalLM | undefined;
  const mergedDtype = weightsPrecision(r.modelDir);
  if (r.memoryLimitBytes === undefined || 2 * tf.memory().numBytes < r.memoryLimitBytes) {
    r.onPhase?.({ type: 'phase', phase: 'merging', detail: 'in memory, for the evaluation' });
    merged = buildMergedModel(r.modelDir, config, tensors);
  } else notes.push('merged model not evaluated: a second copy of the weights would pass the memory limit (run lora-lab merge, then lora-lab eval --merged)');
  try {
    const report = await evaluateModels({
      model: r.model, adapter: { config, tensors }, merged, mergedDtype, examples: r.valid, padId: r.padId, tokenizer: r.tokenizer, notes, onPhase: r.onPhase, signal: r.signal,
      options: { seed: r.seed, batchSize: r.batchSize },
      sources: { model: path.resolve(r.modelDir), adapter: r.adapterDir, ...(r.dataSource ? { data: r.dataSource } : {}), ...(merged ? { merged: 'in memory: the base merged with the adapter, as lora-lab merge writes it' } : {}) },
    });
    const file = path.join(r.runDir, EVAL_FILE);
    writeEvalReport(file, report);
    return { path: file, report };
  } finally {
    merged?.dispose();
  }
}
