// The training loop: an async generator of typed events (step, eval, checkpoint, done) over a
// model with a LoRA adapter and tokenized examples. Three cadences (report, evaluate, save),
// gradient accumulation that equals the larger batch, global-norm clipping, AdamW, schedules,
// early stopping, NaN/Inf guard, exact resume, and cancel through an AbortSignal within one step.
import * as tf from '@tensorflow/tfjs';
import type { TrainerCheckpoint, TrainerProgress } from './checkpoint';
import type { CausalLM } from '../models/causalLm';
import { AdamW, clipByGlobalNorm, loraplusLrScales, type AdamWConfig } from './optimizer';
import { learningRate, type ScheduleKind } from './schedule';
import { epochOrder, lengthGroupedOrder, makeBatch } from '../data/batches';
import type { Batch, Example } from '../data/types';
import { evalLoss } from './evalLoss';
import { baseDropoutSeed, seededBaseDropout } from '../models/baseDropout';
import type { BaseDropoutMasks, ForwardContext } from '../lora/layer';
import { mix32 } from '../util/rng';
import { exampleLosses, roundLoss, type ExampleLoss } from './exampleLosses';
import type { EvalEvent, StepEvent } from '../../protocol/metrics';

/**
 * What the trainer needs of an example: token ids and per-token loss weights; with its line in
 * the training file (Example.line), step rows name it (`examples`).
 */
export type TrainExample = Pick<Example, 'ids' | 'weights'> & Partial<Pick<Example, 'line'>>;

export interface TrainerConfig {
  lr: number;
  schedule: ScheduleKind;
  warmupSteps: number;
  /** Stop after this many epochs (ignored when maxSteps is set). */
  epochs: number;
  maxSteps?: number;
  batchSize: number;
  gradAccum: number;
  maxGradNorm: number;
  adamw: AdamWConfig;
  /** LoRA+: every lora_B learns at the scheduled lr × this (PEFT's create_loraplus_optimizer); undefined: one rate. */
  loraplusLrRatio?: number;
  seed: number;
  reportEvery: number;
  evalEvery: number;
  checkpointEvery: number;
  /** Evaluations without improvement before stopping; 0 = never stop early. */
  patience: number;
  /** Batches of similar-length examples (lengthGroupedOrder): less padding, fewer FLOPs per epoch. */
  groupByLength?: boolean;
  /**
   * The base model's own dropout (embd/attn/resid_pdrop, attention_dropout) in training, as
   * model.train() applies it under PEFT + HF Trainer; undefined: on. Nothing changes for a model
   * whose probabilities are all 0.
   */
  baseDropout?: boolean;
}

export type TrainerEvent =
  | StepEvent
  | EvalEvent
  | { type: 'checkpoint'; step: number; name: 'last' | 'best'; dir: string }
  | { type: 'done'; status: 'completed' | 'cancelled' | 'early-stopped' | 'diverged'; step: number; bestValLoss: number | null; bestStep: number | null; message?: string };

export interface TrainerInput {
  model: CausalLM;
  train: TrainExample[];
  valid: TrainExample[];
  padId: number;
  config: TrainerConfig;
  resume?: TrainerCheckpoint;
  /** Persists a checkpoint and returns where it went. */
  saveCheckpoint: (name: 'last' | 'best', ckpt: TrainerCheckpoint) => string;
  /** Called after each evaluation with its event and each validation example's loss, in `valid`'s order. */
  onEvalExamples?: (ev: EvalEvent, examples: ExampleLoss[]) => void;
  signal?: AbortSignal;
}

export function stepsPerEpoch(examples: number, cfg: Pick<TrainerConfig, 'batchSize' | 'gradAccum'>): number {
  return Math.ceil(Math.ceil(examples / cfg.batchSize) / cfg.gradAccum);
}

export function totalSteps(examples: number, cfg: TrainerConfig): number {
  return cfg.maxSteps ?? cfg.epochs * stepsPerEpoch(examples, cfg);
}

/**
 * Deterministic LoRA-dropout seeds from (run seed, step, call index): identical after a resume. Each
 * call's value goes through SplitMix32's finaliser: the calls are one per adapted block, and each block
 * counts its modules up from its value (CausalLM), so unmixed neighbours would give two blocks the same
 * masks (as `>>> 1` of consecutive sums did: calls 2j and 2j+1 often returned the same seed).
 */
export function dropoutSeeds(seed: number, step: number): () => number {
  let k = 0;
  return () => mix32(Math.imul(seed + 1, 1_000_003) + Math.imul(step, 7919) + Math.imul(k++, 0x9e3779b9));
}

/** Each epoch's seeded example order, computed once per epoch. */
function epochOrders(train: TrainExample[], cfg: TrainerConfig): (epoch: number) => number[] {
  const lengths = cfg.groupByLength ? train.map((e) => e.ids.length) : undefined;
  let cached: { epoch: number; order: number[] } | undefined;
  return (epoch) => {
    if (cached?.epoch !== epoch) {
      cached = { epoch, order: lengths ? lengthGroupedOrder(lengths, cfg.batchSize, cfg.seed, epoch) : epochOrder(train.length, cfg.seed, epoch) };
    }
    return cached.order;
  };
}

/** The counters to start from: the checkpoint's when resuming (and the optimizer's moments put back in this adapter's order). */
function startingProgress(input: TrainerInput, named: ReturnType<CausalLM['namedVariables']>, opt: AdamW): TrainerProgress {
  if (!input.resume) {
    return { step: 0, epoch: 0, microBatch: 0, tokensSeen: 0, bestValLoss: null, bestStep: null, evalsWithoutImprovement: 0, seed: input.config.seed };
  }
  const order = input.resume.adapter.map((t) => t.name);
  const idx = named.map((n) => order.indexOf(n.peftName));
  if (idx.some((i) => i < 0)) throw new Error('the checkpoint does not hold every adapter tensor of this configuration');
  const s = input.resume.optimizer;
  opt.setState({ step: s.step, m: idx.map((i) => s.m[i]), v: idx.map((i) => s.v[i]) });
  return { ...input.resume.progress };
}

/** The step's micro-batches: consecutive batchSize slices of this epoch's seeded order. */
function stepGroup(order: number[], progress: TrainerProgress, microPerEpoch: number, cfg: TrainerConfig): number[][] {
  const group: number[][] = [];
  for (let k = progress.microBatch; k < Math.min(microPerEpoch, progress.microBatch + cfg.gradAccum); k++) {
    group.push(order.slice(k * cfg.batchSize, (k + 1) * cfg.batchSize));
  }
  return group;
}

/**
 * Forward and backward over the step's micro-batches, gradients summed: the group's loss and
 * gradients, or undefined when cancelled between micro-batches (or no batch carried loss).
 */
async function accumulate(
  model: CausalLM, batches: Batch[], dropoutSeed: () => number, baseDropout: ((micro: number) => BaseDropoutMasks) | undefined, signal?: AbortSignal,
): Promise<{ loss: number; grads: tf.Tensor[]; exampleLosses: (number | null)[] } | undefined> {
  const groupWeight = batches.reduce((s, b) => s + b.lossTokens, 0);
  let lossValue = 0;
  let accum: tf.Tensor[] | undefined;
  // Each example's mean loss per loss token, in the step's batch order (null: no loss token, or its micro-batch had none).
  const perExample: (number | null)[] = [];
  for (const [k, b] of batches.entries()) {
    if (signal?.aborted) {
      tf.dispose(accum ?? []);
      return undefined;
    }
    if (b.lossTokens === 0) {
      perExample.push(...b.indices.map(() => null));
      continue;
    }
    // Weight each micro-batch's mean by its share of the group's loss tokens: the summed
    // gradient then equals the gradient of the whole group's token mean (a larger batch).
    const share = b.lossTokens / groupWeight;
    // Layer-wise recomputation: activation memory of one block, not of the whole model.
    // The model's own dropout draws new masks for each micro-batch (see baseDropoutSeed).
    const ctx: ForwardContext = { training: true, dropoutSeed, ...(baseDropout ? { baseDropout: baseDropout(k) } : {}) };
    const r = model.lossAndGrads(b.ids, b.weights, ctx, share);
    lossValue += r.loss * share;
    perExample.push(...exampleLosses(r.examples));
    const g = r.grads;
    if (!accum) accum = g;
    else {
      const next = accum.map((a, i) => a.add(g[i]));
      tf.dispose([...accum, ...g]);
      accum = next;
    }
    await yieldToEventLoop(); // lets a cancel message arrive between micro-batches
  }
  return accum && { loss: lossValue, grads: accum, exampleLosses: perExample };
}

/** Clipping, the scheduled learning rate and one AdamW update (consumes `grads`). */
function update(opt: AdamW, grads: tf.Tensor[], cfg: TrainerConfig, total: number, step: number): { lr: number; norm: number } {
  const clipped = clipByGlobalNorm(grads, cfg.maxGradNorm);
  const lr = learningRate({ kind: cfg.schedule, baseLr: cfg.lr, warmupSteps: cfg.warmupSteps, totalSteps: total }, step);
  opt.apply(clipped.grads, lr);
  tf.dispose(clipped.grads);
  return { lr, norm: clipped.norm };
}

/** A validation pass; the best loss and the patience counter move in `progress`. */
function validate(model: CausalLM, valid: TrainExample[], cfg: TrainerConfig, padId: number, progress: TrainerProgress): { ev: EvalEvent; examples: ExampleLoss[] } {
  const ev = evalLoss(model, valid, cfg.batchSize, padId);
  const best = progress.bestValLoss === null || ev.loss < progress.bestValLoss;
  if (best) {
    progress.bestValLoss = ev.loss;
    progress.bestStep = progress.step;
    progress.evalsWithoutImprovement = 0;
  } else progress.evalsWithoutImprovement++;
  return { ev: { type: 'eval', step: progress.step, valLoss: ev.loss, valPerplexity: Math.exp(ev.loss), valTokens: ev.tokens, best }, examples: ev.examples };
}

/** The counters after an optimizer step over `micro` micro-batches of `tokens` tokens. */
function countStep(progress: TrainerProgress, tokens: number, micro: number, microPerEpoch: number): void {
  progress.step++;
  progress.tokensSeen += tokens;
  progress.microBatch += micro;
  if (progress.microBatch >= microPerEpoch) {
    progress.epoch++;
    progress.microBatch = 0;
  }
}

type Done = Extract<TrainerEvent, { type: 'done' }>;
const doneEvent = (p: TrainerProgress, status: Done['status'], message?: string): Done => ({
  type: 'done', status, step: p.step, bestValLoss: p.bestValLoss, bestStep: p.bestStep, ...(message !== undefined ? { message } : {}),
});

export async function* trainLoop(input: TrainerInput): AsyncGenerator<TrainerEvent> {
  const { model, train, valid, padId, config: cfg, signal } = input;
  if (train.length === 0) throw new Error('no training examples');
  const named = model.namedVariables();
  if (named.length === 0) throw new Error('the model has no adapter to train');
  const opt = new AdamW(named.map((n) => n.variable), cfg.adamw, loraplusLrScales(named, cfg.loraplusLrRatio));
  const total = totalSteps(train.length, cfg);
  const microPerEpoch = Math.ceil(train.length / cfg.batchSize);
  const orderOf = epochOrders(train, cfg);
  const progress = startingProgress(input, named, opt);

  const snapshot = (): TrainerCheckpoint => ({
    progress: { ...progress },
    lora: model.loraConfig!,
    adapter: model.adapterTensors(),
    init: model.adapters.initTensors(), // PiSSA/OLoRA's A₀, B₀ (the checkpoint is written converted); else empty
    optimizer: opt.getState(),
  });
  const saveLast = (): TrainerEvent => ({ type: 'checkpoint', step: lastGood.progress.step, name: 'last', dir: input.saveCheckpoint('last', lastGood) });
  // Keep the last good state in memory so a NaN step never reaches disk.
  const start = performance.now();
  let lastGood = snapshot();

  try {
    while (progress.step < total) {
      if (signal?.aborted) break;
      const group = stepGroup(orderOf(progress.epoch), progress, microPerEpoch, cfg);
      const batches = group.map((idx) => makeBatch(train, idx, padId));
      const t0 = performance.now();
      const { seed, step } = progress;
      const baseDropout = cfg.baseDropout === false ? undefined : (micro: number) => seededBaseDropout(baseDropoutSeed(seed, step, micro));
      const acc = await accumulate(model, batches, dropoutSeeds(seed, step), baseDropout, signal);
      if (!acc) break;
      if (!Number.isFinite(acc.loss)) {
        tf.dispose(acc.grads);
        yield saveLast();
        yield doneEvent(progress, 'diverged', `loss became ${acc.loss} at step ${progress.step + 1}: lower the learning rate (now ${cfg.lr}) or set max_grad_norm; the last good checkpoint (step ${lastGood.progress.step}) was kept`);
        return;
      }
      const { lr, norm } = update(opt, acc.grads, cfg, total, progress.step);

      const tokens = batches.reduce((s, b) => s + b.tokens, 0);
      countStep(progress, tokens, group.length, microPerEpoch);
      lastGood = snapshot();
      const stepMs = performance.now() - t0;
      const last = progress.step === total;
      if (progress.step % cfg.reportEvery === 0 || last || progress.step === 1) {
        // Provenance last in the row: readers that scan for loss and tokens (runs/stepScan.ts) find them first.
        const lines = group.flat().map((i) => train[i].line);
        yield {
          type: 'step', step: progress.step, totalSteps: total, epoch: progress.epoch + progress.microBatch / microPerEpoch,
          loss: acc.loss, lr, gradNorm: norm, tokens, tokensPerSec: (tokens / stepMs) * 1000, stepMs, elapsedMs: performance.now() - start,
          ...(lines.every((l) => l !== undefined) ? { examples: lines as number[] } : {}),
          exampleLosses: acc.exampleLosses.map(roundLoss),
        };
      }
      let stopEarly = false;
      if (valid.length > 0 && (progress.step % cfg.evalEvery === 0 || last)) {
        const { ev, examples } = validate(model, valid, cfg, padId, progress);
        input.onEvalExamples?.(ev, examples);
        yield ev;
        if (ev.best) {
          lastGood = snapshot(); // carries the new best loss
          yield { type: 'checkpoint', step: progress.step, name: 'best', dir: input.saveCheckpoint('best', lastGood) };
        }
        stopEarly = cfg.patience > 0 && progress.evalsWithoutImprovement >= cfg.patience;
        lastGood.progress = { ...progress }; // evaluation changes counters, never weights
      }
      if (progress.step % cfg.checkpointEvery === 0 || last || stopEarly) {
        yield { type: 'checkpoint', step: progress.step, name: 'last', dir: input.saveCheckpoint('last', lastGood) };
      }
      if (stopEarly) {
        yield doneEvent(progress, 'early-stopped', `validation loss did not improve for ${cfg.patience} evaluations`);
        return;
      }
    }
    const cancelled = progress.step < total;
    if (cancelled) yield saveLast();
    yield doneEvent(progress, cancelled ? 'cancelled' : 'completed');
  } catch (e) {
    // A failure mid-run (out of memory, a kernel error) keeps the last completed step on disk.
    try {
      input.saveCheckpoint('last', lastGood);
    } catch {
      // Saving failed too (disk full?): the original error matters more.
    }
    throw e;
  } finally {
    opt.dispose();
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
