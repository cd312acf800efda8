// The rows of metrics.jsonl, defined once: the trainer's step and eval events are the rows minus
// the wall-clock `time` the session stamps on them when it appends them, and the pre-flight row is
// the pre-flight report under `type: 'preflight'`. The panel plots a subset of each row
// (MetricRow); live events and rows read back from disk both fit it. decodeMetricsLine checks a
// row read back from disk. Pure: the webview bundle imports this.
import type { ParameterCounts } from '../core/lora/config';
import { decoder, fail, Fields, type Decoder } from './decode';

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
  /**
   * Provenance: the 1-based lines, in the training file run.json names (dataset.path), of the
   * step's examples in batch order (across its gradient-accumulation micro-batches). Absent in
   * runs from before provenance was logged.
   */
  examples?: number[];
  /**
   * Each of those examples' mean loss per loss token in this step, from the same forward pass
   * (6 significant digits; null for an example without loss tokens). Their token-weighted mean
   * is `loss`. Absent in older runs.
   */
  exampleLosses?: (number | null)[];
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

// --- Decoders -------------------------------------------------------------------------------------

function stepEvent(f: Fields): StepEvent {
  return {
    type: 'step', step: f.index('step'), totalSteps: f.index('totalSteps'), epoch: f.num('epoch'), loss: f.num('loss'), lr: f.num('lr'),
    gradNorm: f.num('gradNorm'), tokens: f.num('tokens'), tokensPerSec: f.num('tokensPerSec'), stepMs: f.num('stepMs'), elapsedMs: f.num('elapsedMs'),
    ...(f.has('examples') ? { examples: f.list('examples', lineNumber) } : {}),
    ...(f.has('exampleLosses') ? { exampleLosses: f.list('exampleLosses', lossOrNull) } : {}),
  };
}

/** A 1-based line number. */
function lineNumber(v: unknown, path: string): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : fail(path, v, 'a line number (a whole number ≥ 1)');
}

/** A loss, or null where an example had no loss token. */
function lossOrNull(v: unknown, path: string): number | null {
  return v === null || typeof v === 'number' ? v : fail(path, v, 'a number or null');
}

function evalEvent(f: Fields): EvalEvent {
  return { type: 'eval', step: f.index('step'), valLoss: f.num('valLoss'), valPerplexity: f.num('valPerplexity'), valTokens: f.num('valTokens'), best: f.bool('best') };
}

function parameterCounts(f: Fields): ParameterCounts {
  return { trainable: f.num('trainable'), total: f.num('total'), base: f.num('base'), percent: f.num('percent'), adaptedModules: f.num('adaptedModules'), adapterBytes: f.num('adapterBytes') };
}

function memoryEstimate(f: Fields): MemoryEstimate {
  return {
    weightsBytes: f.num('weightsBytes'), optimizerBytes: f.num('optimizerBytes'), gradientBytes: f.num('gradientBytes'), activationBytes: f.num('activationBytes'),
    totalBytes: f.num('totalBytes'), ...(f.has('limitBytes') ? { limitBytes: f.num('limitBytes') } : {}),
  };
}

function preflightRow(f: Fields): PreflightRow {
  return {
    type: 'preflight', counts: parameterCounts(f.obj('counts')), memory: memoryEstimate(f.obj('memory')), warmupMs: f.num('warmupMs'),
    ...(f.has('measuredPeakBytes') ? { measuredPeakBytes: f.num('measuredPeakBytes') } : {}),
    stepsPerEpoch: f.num('stepsPerEpoch'), totalSteps: f.num('totalSteps'), secondsPerEpoch: f.num('secondsPerEpoch'), etaSeconds: f.num('etaSeconds'),
  };
}

/** One line of metrics.jsonl (already parsed, non-finite numbers restored): a step, eval or pre-flight row. */
export const decodeMetricsLine: Decoder<MetricsLine> = decoder((v) => {
  const f = Fields.of(v, '');
  switch (f.oneOf('type', ['step', 'eval', 'preflight'] as const)) {
    case 'step':
      return { ...stepEvent(f), time: f.str('time') };
    case 'eval':
      return { ...evalEvent(f), time: f.str('time') };
    case 'preflight':
      return preflightRow(f);
  }
});

/** What the panel plots of a step or eval event (or row): the other fields dropped. */
export function plotted(row: StepEvent | EvalEvent): MetricRow {
  if (row.type === 'eval') return { type: 'eval', step: row.step, valLoss: row.valLoss, valPerplexity: row.valPerplexity, best: row.best };
  const { step, epoch, loss, lr, gradNorm, tokens, tokensPerSec, elapsedMs } = row;
  return { type: 'step', step, epoch, loss, lr, gradNorm, tokens, tokensPerSec, elapsedMs };
}

/** A loss as the run folder keeps it: 6 significant digits (non-finite and null kept as they are). */
export function roundLoss(x: number | null): number | null {
  return x === null || !Number.isFinite(x) ? x : Number(x.toPrecision(6));
}

/** One example's loss in one evaluation (or step), with its loss-bearing tokens (its weight in the token-weighted mean). */
export interface ExampleLoss {
  /** Mean loss per loss token (null: the example has no loss token). */
  loss: number | null;
  tokens: number;
}

// --- eval-examples.jsonl ---------------------------------------------------------------------------

/**
 * One line of a run's eval-examples.jsonl: one validation example's loss in the best or the last
 * evaluation (core/runs/evalExamples.ts). `file` is the validation file, or the training file for
 * a held-out split; `line` the example's 1-based line in it. Over one tag's rows, the tokens sum
 * to the evaluation's valTokens and the token-weighted mean of loss is its valLoss.
 */
export interface EvalExampleRow {
  step: number;
  tag: 'best' | 'last';
  file: string;
  line: number;
  /** Mean loss per loss token (6 significant digits; null: no loss token). */
  loss: number | null;
  tokens: number;
}

export const decodeEvalExampleRow: Decoder<EvalExampleRow> = decoder((v) => {
  const f = Fields.of(v, '');
  return {
    step: f.index('step'), tag: f.oneOf('tag', ['best', 'last'] as const), file: f.str('file'), line: lineNumber(f.raw.line, f.at('line')),
    loss: lossOrNull(f.raw.loss, f.at('loss')), tokens: f.index('tokens'),
  };
});
