// eval-examples.jsonl: each validation example's loss in the best and in the last evaluation of a
// run, beside metrics.jsonl (which holds only the evaluations' means). Rewritten whole and
// atomically at each evaluation (one validation set's rows, twice at most: small), so a reader
// never sees half of one. A resume keeps what is still true at its checkpoint: the best
// evaluation's rows (its step is the checkpoint's bestStep), and the last evaluation's when it
// was at or before the checkpoint (later ones are evaluated again).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeEvalExampleRow, roundLoss, type EvalEvent, type EvalExampleRow, type ExampleLoss } from '../../protocol/metrics';
import { writeFileAtomic } from '../util/durableFiles';
import { parseRow } from './metrics';

export const EVAL_EXAMPLES_FILE = 'eval-examples.jsonl';

export interface EvalExamplesRead {
  rows: EvalExampleRow[];
  /** 1-based lines that are not rows (skipped), with the reason. */
  skipped: { line: number; reason: string }[];
}

/** Reads a run folder's eval-examples.jsonl; a missing file reads as no rows. */
export function readEvalExamples(runDir: string): EvalExamplesRead {
  let text: string;
  try {
    text = fs.readFileSync(path.join(runDir, EVAL_EXAMPLES_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { rows: [], skipped: [] };
    throw e;
  }
  const out: EvalExamplesRead = { rows: [], skipped: [] };
  text.split('\n').forEach((l, i) => {
    if (l.trim() === '') return;
    const d = decodeEvalExampleRow(parseRow(l));
    if (d.ok) out.rows.push(d.value);
    else out.skipped.push({ line: i + 1, reason: d.error });
  });
  return out;
}

/**
 * The sidecar of one training session: holds the best and the last evaluation's rows and rewrites
 * the file after each evaluation. `file`: where the validation examples are; `lines`: each
 * validation example's line in it, in the order the evaluation reports them.
 */
export class EvalExamplesLog {
  private best: EvalExampleRow[] = [];
  private last: EvalExampleRow[] = [];

  constructor(
    private readonly runDir: string,
    private readonly file: string,
    private readonly lines: readonly number[],
  ) {}

  /** Takes up the rows of an earlier attempt that still hold at a resume from `step` whose best evaluation was at `bestStep`. */
  resumeFrom(step: number, bestStep: number | null): void {
    const { rows } = readEvalExamples(this.runDir);
    this.best = rows.filter((r) => r.tag === 'best' && r.step === bestStep);
    this.last = rows.filter((r) => r.tag === 'last' && r.step <= step);
    const lastStep = this.last.at(-1)?.step;
    this.last = this.last.filter((r) => r.step === lastStep);
    this.write();
  }

  /** Records one evaluation (the best one too when ev.best) and rewrites the file. */
  record(ev: EvalEvent, examples: readonly ExampleLoss[]): void {
    if (examples.length !== this.lines.length) throw new Error(`internal: ${examples.length} validation losses for ${this.lines.length} validation examples`);
    const rows = (tag: 'best' | 'last'): EvalExampleRow[] =>
      examples.map((e, i) => ({ step: ev.step, tag, file: this.file, line: this.lines[i], loss: roundLoss(e.loss), tokens: e.tokens }));
    this.last = rows('last');
    if (ev.best) this.best = rows('best');
    this.write();
  }

  private write(): void {
    const all = [...this.best, ...this.last];
    if (all.length === 0) {
      fs.rmSync(path.join(this.runDir, EVAL_EXAMPLES_FILE), { force: true });
      return;
    }
    writeFileAtomic(path.join(this.runDir, EVAL_EXAMPLES_FILE), all.map((r) => JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))).join('\n') + '\n');
  }
}
