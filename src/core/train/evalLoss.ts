// The loss-only evaluation the training loop runs on its validation examples every eval_steps:
// the token-weighted mean next-token loss in eval mode (no dropout). The full evaluation of a
// finished run (base vs adapter vs merged, perplexity, accuracy, generations) is eval/evaluate.ts.
import type { CausalLM } from '../models/causalLm';
import { makeBatch } from '../data/batches';
import type { Example } from '../data/types';

/** Token-weighted mean next-token loss over examples (no dropout), and the loss-token count. */
export function evalLoss(model: CausalLM, examples: readonly Pick<Example, 'ids' | 'weights'>[], batchSize: number, padId: number): { loss: number; tokens: number } {
  let sum = 0;
  let tokens = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, examples.length - i) }, (_, k) => i + k);
    const b = makeBatch(examples, idx, padId);
    if (b.lossTokens === 0) continue;
    const { loss } = model.loss(b.ids, b.weights);
    sum += loss.dataSync()[0] * b.lossTokens;
    loss.dispose();
    tokens += b.lossTokens;
  }
  return { loss: tokens ? sum / tokens : NaN, tokens };
}
