// Per-example losses from the per-token losses the LM-head loss already computes (ExampleSums,
// models/headLoss.ts): each example's mean loss per loss token, the same weighting as the batch's
// loss, so the token-weighted mean of a step's example losses is the step's loss. Rounded to 6
// significant digits where they are written (metrics.jsonl, eval-examples.jsonl): far below the
// step-to-step noise, and about half the bytes of a full double.
import type { ExampleSums } from '../models/headLoss';
import type { ExampleLoss } from '../../protocol/metrics';

export { roundLoss } from '../../protocol/metrics';
export type { ExampleLoss };

/** Each batch row's mean loss per unit of loss weight; null for a row without loss tokens. */
export function exampleLosses(sums: ExampleSums): (number | null)[] {
  return sums.nll.map((nll, b) => (sums.weight[b] > 0 ? nll / sums.weight[b] : null));
}
