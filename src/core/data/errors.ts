// Errors of the data pipeline: DatasetError (the dataset cannot be used, with the rows at fault),
// RowError (one row is bad; caught and logged), and ProblemLog (collects row problems and applies
// the bad-row policy).
import type { BadRowPolicy, RowProblem } from './types';

/** Problems listed in an error message: enough to see the pattern, short enough to read. */
export const LISTED_PROBLEMS = 20;

/**
 * Problems kept in a report. A file where every row is bad could hold millions; the true count is
 * kept separately, and a thousand examples are plenty to diagnose any pattern.
 */
export const MAX_KEPT_PROBLEMS = 1000;

export class DatasetError extends Error {
  /** The first problems found (at most MAX_KEPT_PROBLEMS); empty for file-level errors. */
  readonly problems: RowProblem[];
  /** Number of problem rows in total (problems may be capped). */
  readonly totalProblems: number;

  constructor(
    readonly file: string,
    message: string,
    problems: RowProblem[] = [],
    totalProblems = problems.length,
  ) {
    super(message);
    this.name = 'DatasetError';
    this.problems = problems;
    this.totalProblems = totalProblems;
  }
}

/** A problem with one row; thrown inside row handling and turned into a RowProblem. */
export class RowError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RowError';
  }
}

export function formatProblem(p: RowProblem): string {
  return `${p.file}:${p.line}: ${p.reason}`;
}

/** Row problems of one file, in file order, and what the policy makes of them. */
export class ProblemLog {
  readonly kept: RowProblem[] = [];
  total = 0;
  /** Rows read so far, good or bad (not a CSV header), for "3 of 20 rows". */
  seen = 0;

  constructor(
    readonly file: string,
    readonly policy: BadRowPolicy = 'fail',
  ) {}

  add(line: number, reason: string): void {
    this.total++;
    if (this.kept.length < MAX_KEPT_PROBLEMS) this.kept.push({ file: this.file, line, reason });
  }

  /** With policy 'fail', a later stage need only count problems (the dataset is refused anyway). */
  get failing(): boolean {
    return this.policy === 'fail' && this.total > 0;
  }

  /** Throws the policy's refusal when there were problems under 'fail'. */
  enforce(): void {
    if (!this.failing) return;
    throw new DatasetError(this.file, this.describe(), this.kept, this.total);
  }

  /** The first LISTED_PROBLEMS problems, the total, and what to do. */
  describe(): string {
    const of = this.seen >= this.total && this.seen > 0 ? ` of ${this.seen}` : '';
    const rows = this.total === 1 ? (of ? `1${of} rows has a problem` : '1 row has a problem') : `${this.total}${of} rows have problems`;
    const listed = this.kept.slice(0, LISTED_PROBLEMS).map((p) => `  ${formatProblem(p)}`);
    const more = this.total > listed.length ? [`  … and ${this.total - listed.length} more`] : [];
    return [
      `${this.file}: ${rows}:`,
      ...listed,
      ...more,
      this.policy === 'fail' ? `Fix these rows, or set the bad-row policy to 'skip' to train on the remaining rows.` : 'Fix these rows.',
    ].join('\n');
  }
}

/** The error message of an unknown thrown value. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
