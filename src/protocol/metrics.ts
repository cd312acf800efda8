// The rows of metrics.jsonl, defined once: the trainer's step and eval events are the rows minus
// the wall-clock `time` the session stamps on them when it appends them, and the pre-flight row is
// the pre-flight report under `type: 'preflight'`. The panel plots a subset of each row
// (MetricRow); live events and rows read back from disk both fit it. Types only (plus their
// decoders in metricsDecode.ts): the webview bundle imports this.
import type { ParameterCounts } from '../core/lora/config';

/** One optimizer step, as the trainer reports it (TrainerEvent 'step'). */
export interface StepEvent {
  type: 'step';
  /** 1-based optimizer step. */
  step: number;
  totalSteps: number;
  /** Fractional epoch at the end of this step. */
  epoch: number;
  /** Mean loss over the step's loss-bearing tokens (NaN/Infinity when the run diverged). */
  loss: number;
  lr: number;
  /** Global L2 norm of the gradients before clipping. */
  gradNorm: number;
  /** Tokens seen since the start of training (real, not padding). */
  tokens: number;
  tokensPerSec: number;
  stepMs: number;
  elapsedMs: number;
}

/** One validation pass (TrainerEvent 'eval'). */
export interface EvalEvent {
  type: 'eval';
  step: number;
  valLoss: number;
  valPerplexity: number;
  valTokens: number;
  /** The best validation loss so far (a "best" checkpoint is written). */
  best: boolean;
}

export interface MemoryEstimate {
  weightsBytes: number;
  optimizerBytes: number;
  gradientBytes: number;
  activationBytes: number;
  totalBytes: number;
  limitBytes?: number;
}

/** The pre-flight report before step 1 (src/core/train/preflight.ts). */
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

/** When a row was appended (ISO 8601); the events themselves carry only elapsed times. */
export interface Stamped {
  time: string;
}

export type StepRow = StepEvent & Stamped;
export type EvalRow = EvalEvent & Stamped;
export type PreflightRow = { type: 'preflight' } & Preflight;
/** One line of metrics.jsonl, as the training session appends it. */
export type MetricsLine = StepRow | EvalRow | PreflightRow;

/** The fields of a step row the panel plots and shows (live events and rows from disk alike). */
export type PlottedStep = Pick<StepEvent, 'type' | 'step' | 'epoch' | 'loss' | 'lr' | 'gradNorm' | 'tokens' | 'tokensPerSec' | 'elapsedMs'>;
/** The fields of an eval row the panel plots. */
export type PlottedEval = Pick<EvalEvent, 'type' | 'step' | 'valLoss' | 'valPerplexity' | 'best'>;
/** One metric row as the panel plots it. */
export type MetricRow = PlottedStep | PlottedEval;
