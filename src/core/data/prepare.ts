// Training and validation data for a run: the training file, and validation from an explicit
// file, else a valid/val/validation file next to it, else a seeded held-out split.
import { resolve } from 'node:path';
import type { LoraTokenizer } from '../hf/tokenizer';
import { Rng } from '../util/rng';
import { shuffledIndices } from './batches';
import { DatasetError } from './errors';
import { findSiblingValidFile, inspectFile } from './files';
import { checkDatasetFile, checkMaxSeqLen, loadExamples, summarize } from './load';
import type { DataOptions, DatasetReport, Example, ValidSource } from './types';

/**
 * Share of the training examples held out when no validation file is found: the usual default,
 * enough for a steady validation loss on small datasets while 90% stays in training.
 */
export const DEFAULT_VALID_FRACTION = 0.1;

/**
 * Mixed into the seed of the held-out split so that it is a different random stream from the
 * epoch orders drawn from the same seed (the split does not correlate with the first epoch).
 */
const SPLIT_STREAM = 0x5b1d5eed;

export interface PreparedData {
  train: Example[];
  valid: Example[];
  trainReport: DatasetReport;
  /** For a split: the held-out part of the training file; for 'none': an empty report. */
  validReport: DatasetReport;
  validSource: ValidSource;
}

/**
 * Which examples are held out: round(n·fraction) of them, at least 1 and leaving at least 1 for
 * training, chosen by a seeded shuffle; both lists in file order. Deterministic for (n, fraction, seed).
 */
export function splitIndices(n: number, fraction: number, seed: number): { train: number[]; valid: number[] } {
  const k = Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
  const order = shuffledIndices(n, new Rng((seed ^ SPLIT_STREAM) >>> 0));
  const byPosition = (a: number, b: number) => a - b;
  return { valid: order.slice(0, k).sort(byPosition), train: order.slice(k).sort(byPosition) };
}

function validFractionOf(opts: DataOptions): number {
  const f = opts.validFraction ?? DEFAULT_VALID_FRACTION;
  if (!(f >= 0 && f < 1)) throw new Error(`the validation fraction must be in [0, 1), got ${f}`);
  return f;
}

/**
 * Reads and tokenizes the training data and finds the validation data. Needs the tokenizer but
 * not the model, so run it before loading weights: every data error comes out first. Both files
 * are checked before the training file is tokenized, so a bad validation file fails fast.
 */
export async function prepareData(trainFile: string, tokenizer: LoraTokenizer | undefined, opts: DataOptions): Promise<PreparedData> {
  checkMaxSeqLen(opts.maxSeqLen);
  const fraction = validFractionOf(opts);
  let validFile = opts.validFile;
  let validSource: ValidSource = 'file';
  if (validFile === undefined) {
    validFile = findSiblingValidFile(trainFile);
    validSource = validFile !== undefined ? 'sibling' : fraction > 0 ? 'split' : 'none';
  }
  await inspectFile(trainFile);
  if (validFile !== undefined) {
    if (resolve(validFile) === resolve(trainFile)) {
      throw new DatasetError(validFile, `The validation file is the training file (${trainFile}); give a separate file, or none to hold out part of the training data.`);
    }
    await checkDatasetFile(validFile, opts);
  }

  const train = await loadExamples(trainFile, tokenizer, opts);
  if (validFile !== undefined) {
    const valid = await loadExamples(validFile, tokenizer, opts);
    return { train: train.examples, valid: valid.examples, trainReport: train.report, validReport: valid.report, validSource };
  }
  if (validSource === 'none') {
    const empty: DatasetReport = { file: trainFile, format: train.report.format, ...summarize([]), skipped: 0, problems: [] };
    return { train: train.examples, valid: [], trainReport: train.report, validReport: empty, validSource };
  }

  const n = train.examples.length;
  if (n < 2) {
    throw new DatasetError(
      trainFile,
      `${trainFile} gives only ${n} example, too few to hold one out for validation. Add examples, give a validation file, or set the validation fraction to 0.`,
    );
  }
  const split = splitIndices(n, fraction, opts.seed ?? 0);
  const pick = (indices: number[]) => indices.map((i) => train.examples[i]);
  const trainExamples = pick(split.train);
  const validExamples = pick(split.valid);
  const validReport: DatasetReport = { file: trainFile, format: train.report.format, ...summarize(validExamples), skipped: 0, problems: [] };
  return {
    train: trainExamples,
    valid: validExamples,
    trainReport: { ...train.report, ...summarize(trainExamples) },
    validReport,
    validSource,
  };
}

/** One line per report, for logs and the CLI. */
export function describeReport(report: DatasetReport): string {
  const parts = [
    `${report.file}: ${report.format}`,
    `${report.examples} examples`,
    `${report.tokens} tokens (${report.lossTokens} with loss)`,
  ];
  if (report.truncated > 0) parts.push(`${report.truncated} truncated to max_seq_len`);
  if (report.skipped > 0) parts.push(`${report.skipped} rows skipped`);
  return parts.join(', ');
}
