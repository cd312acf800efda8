// What the Loss curves section says about a run whose metrics came as a bounded view of a long run
// (RunDetail.metricsCoverage, src/core/runs/metricsView.ts): how many steps the chart holds of how
// many, live steps appended since included, and from which step every row is there. Pure, tested.
import type { RunData } from './store';

export interface CoverageNote {
  runId: string;
  /** Step rows the panel holds. */
  shown: number;
  /** Step rows of the run: the file's when it was read, plus live steps since. */
  total: number;
  /** Every step from this one on is there (the tail read whole, then live steps). */
  wholeFrom?: number;
  /** Size of the run's metrics.jsonl when it was read: what "Load all" reads and posts, roughly. */
  bytes: number;
}

/** The note for a run whose older steps were thinned, or undefined when the panel holds every step. */
export function coverageNote(runId: string, d: RunData | undefined): CoverageNote | undefined {
  const detail = d?.detail;
  const c = detail?.metricsCoverage;
  if (!d || !detail || !c?.downsampled) return undefined;
  // The store keeps the detail's rows as the prefix of `metrics` and appends live rows after them.
  let live = 0;
  for (let i = detail.metrics.length; i < d.metrics.length; i++) if (d.metrics[i].type === 'step') live++;
  return { runId, shown: c.shownStepRows + live, total: c.stepRows + live, ...(c.tailFromStep !== undefined && { wholeFrom: c.tailFromStep }), bytes: c.bytes };
}
