// Pre-flight before step 1: parameter counts, a memory estimate (weights, optimizer state,
// activations) against the backend's limit, and the time per step measured on a warm-up
// forward+backward. Stops with the setting to lower when the run cannot fit.
import * as tf from '@tensorflow/tfjs';
import type { BackendReport } from './backend';
import { MemoryLimitError } from './backend';
import { LOSS_CHUNK_TOKENS, type CausalLM } from './models/causalLm';
import { countParameters, type ParameterCounts } from './loraConfig';
import type { Batch } from './data/types';

export interface MemoryEstimate {
  weightsBytes: number;
  optimizerBytes: number;
  gradientBytes: number;
  activationBytes: number;
  totalBytes: number;
  limitBytes?: number;
}

export interface Preflight {
  counts: ParameterCounts;
  memory: MemoryEstimate;
  /** Measured on the warm-up: milliseconds for one micro-batch forward+backward. */
  warmupMs: number;
  /** Peak tensor bytes measured during the warm-up (tf.profile), when available. */
  measuredPeakBytes?: number;
  stepsPerEpoch: number;
  totalSteps: number;
  secondsPerEpoch: number;
  etaSeconds: number;
}

/**
 * Activations the tape keeps for backward, per micro-batch of B×T tokens (float32): per layer
 * roughly a dozen hidden-size vectors per token (norm inputs/outputs, q/k/v, attention output,
 * residuals), the MLP's expanded activations (3× for SwiGLU, 2× for GELU), and the attention
 * scores and probabilities (2·heads·T per token); plus the LM head's logits for one chunk of rows.
 */
export function estimateActivationBytes(model: CausalLM, batchSize: number, seqLen: number): number {
  const s = model.spec;
  const tokens = batchSize * seqLen;
  const mlp = (s.family === 'gpt2' ? 2 : 3) * s.intermediateSize;
  const perLayerPerToken = 12 * s.hiddenSize + mlp + 2 * s.numHeads * seqLen;
  const head = 3 * Math.min(tokens, LOSS_CHUNK_TOKENS) * s.vocabSize * Math.ceil(tokens / LOSS_CHUNK_TOKENS);
  return 4 * (s.numLayers * tokens * perLayerPerToken + head);
}

export function estimateMemory(model: CausalLM, report: BackendReport, batchSize: number, seqLen: number): MemoryEstimate {
  const counts = countParameters(model.spec, model.loraConfig!);
  const weightsBytes = tf.memory().numBytes; // what is loaded now: frozen weights + adapter
  const optimizerBytes = 2 * 4 * counts.trainable;
  const gradientBytes = 2 * 4 * counts.trainable; // accumulated + the micro-batch's
  const activationBytes = estimateActivationBytes(model, batchSize, seqLen);
  return {
    weightsBytes, optimizerBytes, gradientBytes, activationBytes,
    totalBytes: weightsBytes + optimizerBytes + gradientBytes + activationBytes,
    limitBytes: report.memoryLimitBytes,
  };
}

/** Refuses a run whose estimate passes the backend's limit, naming what to lower. */
export function assertFits(mem: MemoryEstimate, report: BackendReport): void {
  if (mem.limitBytes === undefined || mem.totalBytes <= mem.limitBytes) return;
  throw new MemoryLimitError('pre-flight estimate (weights + optimizer + activations)', mem.totalBytes, mem.limitBytes, report.backend);
}

/**
 * One forward+backward on a real micro-batch, gradients discarded: wall time and the peak
 * tensor bytes the engine saw (tf.profile's peakBytes, an absolute figure).
 */
export async function warmup(model: CausalLM, batch: Batch): Promise<{ ms: number; peakBytes: number }> {
  const vars = model.trainableVariables();
  const t0 = performance.now();
  const info = await tf.profile(() => {
    const g = tf.variableGrads(() => model.loss(batch.ids, batch.weights, { training: false }).loss, vars);
    g.value.dataSync(); // forces the work to finish on asynchronous backends
    return [g.value, ...Object.values(g.grads)];
  });
  const ms = performance.now() - t0;
  tf.dispose(info.result as tf.Tensor[]);
  return { ms, peakBytes: info.peakBytes };
}
