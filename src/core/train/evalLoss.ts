// The loss-only evaluation the training loop runs on its validation examples every eval_steps:
// the token-weighted mean next-token loss in eval mode (no dropout), and each example's loss from
// the same forward (for eval-examples.jsonl). The full evaluation of a finished run (base vs
// adapter vs merged, perplexity, accuracy, generations) is eval/evaluate.ts.
import type { CausalLM } from '../models/causalLm';
import { makeBatch } from '../data/batches';
import type { Example } from '../data/types';
import { exampleLosses, type ExampleLoss } from './exampleLosses';

export type { ExampleLoss };

/**
 * Token-weighted mean next-token loss over examples (no dropout), the loss-token count, and each
 * example's loss and loss tokens in the examples' order.
 */
export function evalLoss(model: CausalLM, examples: readonly Pick<Example, 'ids' | 'weights'>[], batchSize: number, padId: number): { loss: number; tokens: number; examples: ExampleLoss[] } {
  let sum = 0;
  let tokens = 0;
  const perExample: ExampleLoss[] = [];
  for (let i = 0; i < examples.length; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, examples.length - i) }, (_, k) => i + k);
    const b = makeBatch(examples, idx, padId);
    if (b.lossTokens === 0) {
      perExample.push(...idx.map(() => ({ loss: null, tokens: 0 })));
      continue;
    }
    const r = model.loss(b.ids, b.weights, undefined, true);
    sum += r.loss.dataSync()[0] * b.lossTokens;
    r.loss.dispose();
    tokens += b.lossTokens;
    const losses = exampleLosses(r.examples!);
    losses.forEach((loss, k) => perExample.push({ loss, tokens: r.examples!.tokens[k] }));
  }
  return { loss: tokens ? sum / tokens : NaN, tokens, examples: perExample };
}
