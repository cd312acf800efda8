// Learning-rate schedules (constant, linear, cosine) with linear warmup, as functions of the
// optimizer step. Warmup uses (step+1)/warmup so the first update is not wasted at lr = 0.

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface ScheduleConfig {
  kind: ScheduleKind;
  baseLr: number;
  warmupSteps: number;
  totalSteps: number;
  /** Floor of the decay as a fraction of baseLr (0 = decay to zero, as HF's schedulers do). */
  minLrRatio?: number;
}

/** Learning rate for 0-based optimizer step `step`. */
export function learningRate(cfg: ScheduleConfig, step: number): number {
  const { baseLr, warmupSteps, totalSteps } = cfg;
  if (warmupSteps > 0 && step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps;
  if (cfg.kind === 'constant') return baseLr;
  const floor = baseLr * (cfg.minLrRatio ?? 0);
  const span = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - warmupSteps) / span));
  const factor = cfg.kind === 'linear' ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
  return floor + (baseLr - floor) * factor;
}
