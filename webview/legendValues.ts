// The values the chart's legend shows per run: raw and smoothed training loss and validation loss at
// the cursor's data index, or at the end of the curves when there is no cursor. Pure: unit-tested.
import type { SeriesKind } from './chartData';

export interface RunValues {
  train?: number;
  smoothed?: number;
  /** The latest evaluation at or before the cursor. */
  val?: number;
}

/** Index of the last non-null value of `col` at or before `i`, or -1. */
function lastAtOrBefore(col: readonly (number | null)[], i: number): number {
  for (let k = Math.min(i, col.length - 1); k >= 0; k--) if (col[k] !== null && col[k] !== undefined) return k;
  return -1;
}

/**
 * Per run (`spec.runs` order): its values at aligned-data index `idx` ([xs, ys...] as uPlot holds
 * it; series i is column i + 1). A training curve that has no point at exactly that x (another run's
 * x) gives its point just before, if the curve goes on past it; past a run's last point, nothing.
 * Validation gives the latest evaluation at or before, while the run goes on there.
 */
export function valuesAt(spec: { runs: readonly unknown[]; series: readonly { run: number; kind: SeriesKind }[] }, data: readonly (readonly (number | null)[])[], idx?: number): RunValues[] {
  const out: RunValues[] = spec.runs.map(() => ({}));
  const n = data[0]?.length ?? 0;
  if (n === 0) return out;
  const at = idx === undefined ? n - 1 : Math.max(0, Math.min(idx, n - 1));
  // How far each run goes (its last point over all its series), so a finished run shows nothing past its end.
  const end = spec.runs.map(() => -1);
  spec.series.forEach((s, i) => {
    end[s.run] = Math.max(end[s.run], lastAtOrBefore(data[i + 1] ?? [], n - 1));
  });
  spec.series.forEach((s, i) => {
    const col = data[i + 1] ?? [];
    if (idx !== undefined && at > end[s.run]) return;
    const k = lastAtOrBefore(col, at);
    if (k >= 0) out[s.run][s.kind] = col[k] as number;
  });
  return out;
}
