// What a run's metrics say about its examples (issue 15): the examples of a step with their
// losses, each training example's loss in the last epoch it was seen, the validation examples of
// the last evaluation (eval-examples.jsonl), and the loss spikes (protocol/spikes.ts) with the
// examples of each. Pure over rows already read; `lora-lab examples` and the panel read the rows.
import type { EvalExampleRow, MetricsLine, StepRow } from '../../protocol/metrics';
import { findSpikes, type Spike, type SpikeOptions } from '../../protocol/spikes';

/** One example of a step or an evaluation: where it is, and its loss there. */
export interface ExampleRef {
  file: string;
  line: number;
  /** Mean loss per loss token (null: no loss token). */
  loss: number | null;
  /** The step it was trained in (training) or evaluated at (validation). */
  step: number;
}

/** A run logged before provenance, or one whose metrics hold no step rows with it. */
export class NoProvenanceError extends Error {
  constructor(runDir: string) {
    super(
      `${runDir}: its metrics.jsonl has no per-example provenance (the "examples" and "exampleLosses" of step rows): ` +
        'the run was trained before LoRA Lab logged them, or has no step yet. Train it again (or resume a new run) to see which examples each step used.',
    );
    this.name = 'NoProvenanceError';
  }
}

type ProvenanceRow = StepRow & { examples: number[]; exampleLosses: (number | null)[] };

function withProvenance(r: MetricsLine): r is ProvenanceRow {
  return r.type === 'step' && r.examples !== undefined && r.exampleLosses !== undefined && r.examples.length === r.exampleLosses.length;
}

/** The step rows that carry provenance, in file order. */
export function provenanceRows(rows: readonly MetricsLine[]): ProvenanceRow[] {
  return rows.filter(withProvenance);
}

/** Highest loss first; examples without a loss last. */
export function byLossDescending(a: { loss: number | null }, b: { loss: number | null }): number {
  return (b.loss ?? -Infinity) - (a.loss ?? -Infinity) || 0;
}

/** The examples of one step row, highest loss first. */
export function stepExamples(row: ProvenanceRow, trainFile: string): ExampleRef[] {
  return row.examples.map((line, k) => ({ file: trainFile, line, loss: row.exampleLosses[k], step: row.step })).sort(byLossDescending);
}

/**
 * Each training example's loss in the last epoch it was seen in (every line appears once per
 * epoch, so its last appearance), highest first.
 */
export function lastEpochLosses(rows: readonly ProvenanceRow[], trainFile: string): ExampleRef[] {
  const last = new Map<number, ExampleRef>();
  for (const r of rows) r.examples.forEach((line, k) => last.set(line, { file: trainFile, line, loss: r.exampleLosses[k], step: r.step }));
  return [...last.values()].sort(byLossDescending);
}

/** The validation examples of the last evaluation in eval-examples.jsonl (else the best's), highest loss first. */
export function lastEvalLosses(rows: readonly EvalExampleRow[]): ExampleRef[] {
  const tag = rows.some((r) => r.tag === 'last') ? 'last' : 'best';
  return rows.filter((r) => r.tag === tag).map(({ file, line, loss, step }) => ({ file, line, loss, step })).sort(byLossDescending);
}

/** The spikes of the training loss (protocol/spikes.ts), each with its step's examples, highest loss first. */
export function spikesWithExamples(rows: readonly MetricsLine[], trainFile: string, opts?: SpikeOptions): (Spike & { examples: ExampleRef[] })[] {
  const steps = rows.filter((r): r is StepRow => r.type === 'step');
  const byStep = new Map(steps.map((r) => [r.step, r]));
  return findSpikes(steps, opts).map((s) => {
    const row = byStep.get(s.step);
    return { ...s, examples: row && withProvenance(row) ? stepExamples(row, trainFile) : [] };
  });
}

/** A training example whose loss rose from its first epoch to its last. */
export interface WentUpRef extends ExampleRef {
  /** Its loss in the first epoch (the step it was first trained in: `firstStep`); `loss` and `step` are the last epoch's. */
  firstLoss: number;
  firstStep: number;
}

/**
 * The training examples whose loss went up between the first epoch and the last (each line
 * appears once per epoch: its first and its last appearance; a line seen once, or with no loss
 * at either end, is not compared), the largest rise first. Empty for a run of one epoch.
 */
export function wentUpLosses(rows: readonly ProvenanceRow[], trainFile: string): WentUpRef[] {
  const first = new Map<number, { loss: number | null; step: number }>();
  const last = new Map<number, { loss: number | null; step: number }>();
  for (const r of rows) {
    r.examples.forEach((line, k) => {
      const at = { loss: r.exampleLosses[k], step: r.step };
      if (!first.has(line)) first.set(line, at);
      else last.set(line, at);
    });
  }
  const out: WentUpRef[] = [];
  for (const [line, end] of last) {
    const start = first.get(line)!;
    if (start.loss === null || end.loss === null || !(end.loss > start.loss)) continue;
    out.push({ file: trainFile, line, loss: end.loss, step: end.step, firstLoss: start.loss, firstStep: start.step });
  }
  return out.sort((a, b) => b.loss! - b.firstLoss - (a.loss! - a.firstLoss) || a.line - b.line);
}
