// Loss spikes: steps whose training loss is far above the running level, by a robust rule that a
// few outliers cannot move: a step is a spike when its loss exceeds the median of the previous
// SPIKE_WINDOW finite losses by more than SPIKE_K robust standard deviations, the deviation
// estimated as 1.4826·MAD (the median absolute deviation, scaled to equal σ for normal noise).
// Why k = 6 and 50 steps: a median and MAD of only 50 points are themselves noisy, so the
// threshold wobbles; measured on 200k steps of normal noise, k = 5 flags one step in ~22k (a
// false alarm in a long run), k = 6 one in ~200k, as does k = 5 over 100 steps. The shorter
// window is kept because it follows a falling curve closely (the level a step is compared with is
// recent: a spike late in training is measured against late losses). No step is judged before
// MIN_WINDOW earlier steps exist. The deviation has a floor (SPIKE_REL_FLOOR of the median), so a
// curve flat to the last digit does not flag a 0.01% rise. A falling curve never flags (its losses
// are below the trailing median). Non-finite losses: NaN is skipped (neither judged nor in a
// window); +Infinity is a spike. Pure: the webview uses it too.

export const SPIKE_K = 6;
export const SPIKE_WINDOW = 50;
export const MIN_WINDOW = 10;
/** The robust deviation is at least this share of the median (0.1%). */
export const SPIKE_REL_FLOOR = 1e-3;
/** Scales a MAD to the standard deviation of normal noise. */
const MAD_TO_SIGMA = 1.4826;

export interface SpikeOptions {
  k?: number;
  window?: number;
  minWindow?: number;
}

export interface Spike {
  step: number;
  loss: number;
  /** The median of the trailing window. */
  median: number;
  /** median + k·max(1.4826·MAD, floor): the loss above which a step is a spike. */
  threshold: number;
  /** How many robust deviations above the median (Infinity for an infinite loss). */
  score: number;
}

function median(sorted: readonly number[]): number {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/** The spikes of a loss curve (points in step order). */
export function findSpikes(points: readonly { step: number; loss: number }[], opts: SpikeOptions = {}): Spike[] {
  const k = opts.k ?? SPIKE_K;
  const size = opts.window ?? SPIKE_WINDOW;
  const min = Math.min(opts.minWindow ?? MIN_WINDOW, size);
  const window: number[] = [];
  const out: Spike[] = [];
  for (const { step, loss } of points) {
    if (Number.isNaN(loss)) continue;
    if (window.length >= min) {
      const sorted = [...window].sort((a, b) => a - b);
      const m = median(sorted);
      const mad = median(sorted.map((x) => Math.abs(x - m)).sort((a, b) => a - b));
      const scale = Math.max(MAD_TO_SIGMA * mad, SPIKE_REL_FLOOR * Math.abs(m), Number.MIN_VALUE);
      const threshold = m + k * scale;
      if (loss > threshold) out.push({ step, loss, median: m, threshold, score: (loss - m) / scale });
    }
    if (Number.isFinite(loss)) {
      window.push(loss);
      if (window.length > size) window.shift();
    }
  }
  return out;
}
