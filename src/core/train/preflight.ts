// Pre-flight before step 1: parameter counts, a memory estimate (weights, optimizer state,
// activations) against the backend's limit, and the time per step measured on a warm-up
// forward+backward. Stops with the setting to lower when the run cannot fit. Its first half,
// estimateMemoryFromSpec, needs no tensor: the session runs it before loading anything.
import * as tf from '@tensorflow/tfjs';
import type { BackendReport } from '../backend';
import { MemoryLimitError } from '../backend';
import type { CausalLM } from '../models/causalLm';
import type { ModelSpec } from '../hf/config';
import { countParameters, selectTargets, type LoraConfig } from '../lora/config';
import { isDecompInit } from '../lora/initDecomp';
import { baseParameterCount } from '../lora/modules';
import type { Batch } from '../data/types';
import type { MemoryEstimate } from '../../protocol/metrics';

export type { MemoryEstimate, Preflight } from '../../protocol/metrics';

/**
 * Activation bytes of a micro-batch, measured: one forward+backward (in layer-wise recomputation
 * mode, the least memory a step can take; the trainer keeps activations instead only when they
 * fit, see CausalLM.activationMode) on a single example of the longest length (tf.profile's peak minus
 * what was allocated before), times the batch size. Activations grow linearly with the batch at
 * a fixed length; a formula from the shapes alone
 * underestimated the tape 3× (every op keeps its output: norm internals, GELU's polynomial, the
 * attention's scores, masks and softmax), so measuring is the honest estimate. The single-example
 * probe itself runs under the model's memory guard.
 */
export async function measureActivationBytes(model: CausalLM, example: Batch, batchSize: number): Promise<number> {
  const before = tf.memory().numBytes;
  const mode = model.activationMode;
  model.activationMode = 'recompute';
  try {
    const info = await tf.profile(() => model.lossAndGrads(example.ids, example.weights, { training: false }).grads);
    tf.dispose(info.result as tf.Tensor[]);
    return Math.max(0, info.peakBytes - before) * batchSize;
  } finally {
    model.activationMode = mode;
  }
}

export function estimateMemory(model: CausalLM, report: BackendReport, activationBytes: number): MemoryEstimate {
  const counts = countParameters(model.spec, model.loraConfig!);
  const weightsBytes = tf.memory().numBytes; // what is loaded now: frozen weights + adapter
  const optimizerBytes = 2 * 4 * counts.trainable;
  const gradientBytes = 2 * 4 * counts.trainable; // accumulated + the micro-batch's
  return {
    weightsBytes, optimizerBytes, gradientBytes, activationBytes,
    totalBytes: weightsBytes + optimizerBytes + gradientBytes + activationBytes,
    limitBytes: report.memoryLimitBytes,
  };
}

/**
 * The estimate before anything is loaded, from config.json and the LoRA config alone: float32
 * base weights and adapter, AdamW's two moments and two gradient buffers; activations 0 (they
 * are measured once the model is loaded). A lower bound of estimateMemory's total, so a run it
 * refuses would fail the full pre-flight too, only after allocating.
 */
export function estimateMemoryFromSpec(
  spec: ModelSpec, lora: Pick<LoraConfig, 'r' | 'targetModules' | 'layersToTransform'> & Partial<Pick<LoraConfig, 'initLoraWeights'>>, report: BackendReport,
): MemoryEstimate {
  const { trainable } = countParameters(spec, lora);
  // PiSSA/OLoRA train on a residual copy of each adapted weight and keep the original for the base model.
  const residual = isDecompInit(lora.initLoraWeights) ? selectTargets(spec, lora).reduce((s, m) => s + m.inFeatures * m.outFeatures, 0) : 0;
  const weightsBytes = 4 * (baseParameterCount(spec) + trainable + residual);
  const optimizerBytes = 2 * 4 * trainable;
  const gradientBytes = 2 * 4 * trainable;
  return { weightsBytes, optimizerBytes, gradientBytes, activationBytes: 0, totalBytes: weightsBytes + optimizerBytes + gradientBytes, limitBytes: report.memoryLimitBytes };
}

/** Refuses a run whose estimate passes the backend's limit, naming what to lower. */
export function assertFits(mem: MemoryEstimate, report: BackendReport, what = 'pre-flight estimate (weights + optimizer + activations)'): void {
  if (mem.limitBytes === undefined || mem.totalBytes <= mem.limitBytes) return;
  throw new MemoryLimitError(what, mem.totalBytes, mem.limitBytes, report.backend);
}

/**
 * One forward+backward on a real micro-batch, gradients discarded: wall time and the peak
 * tensor bytes the engine saw (tf.profile's peakBytes, an absolute figure).
 */
export async function warmup(model: CausalLM, batch: Batch): Promise<{ ms: number; peakBytes: number }> {
  const t0 = performance.now();
  // lossAndGrads reads the loss value, which forces the work to finish on asynchronous backends.
  const info = await tf.profile(() => model.lossAndGrads(batch.ids, batch.weights, { training: false }).grads);
  const ms = performance.now() - t0;
  tf.dispose(info.result as tf.Tensor[]);
  return { ms, peakBytes: info.peakBytes };
}
