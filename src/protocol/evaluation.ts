// The evaluation report (eval.json), defined once: written by src/core/eval/evaluate.ts, read back
// by the host (decoded in evaluationDecode.ts) and shown by the panel's Evaluation section. Types
// only: the webview bundle imports this.

export type ModelRole = 'base' | 'adapter' | 'merged';
export const MODEL_ROLES: readonly ModelRole[] = ['base', 'adapter', 'merged'];

export interface ModelScores {
  loss: number;
  perplexity: number;
  /** Loss-bearing tokens evaluated. */
  tokens: number;
  /** Share of them whose argmax logit is the target token. */
  accuracy: number;
}

export interface EvalOptions {
  batchSize: number;
  prompts: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed: number;
}

/** How the generations were decoded: the options that shape them, and the ids that end one. */
export type GenerationSettings = Omit<EvalOptions, 'batchSize' | 'prompts'> & { eosIds: number[] };

export type StopReason = 'eos' | 'max-new-tokens' | 'max-positions';

export interface TokensText {
  ids: number[];
  /** Decoded (special tokens skipped) when the model folder has a tokenizer. */
  text?: string;
}
export type GenerationOut = TokensText & { stop: StopReason; ms: number };
/** One model's continuations of a prompt. */
export interface GenerationPair {
  greedy: GenerationOut;
  sampled: GenerationOut;
}
export interface GenerationEntry {
  prompt: TokensText;
  reference: TokensText;
  /** Per model: base, and merged (or adapter when no merged model is given). */
  outputs: Partial<Record<ModelRole, GenerationPair>>;
}

/** Where the evaluated models and data came from. */
export interface EvalSources {
  model: string;
  adapter?: string;
  merged?: string;
  data?: string;
}

export type WeightsDtype = 'F32' | 'F16' | 'BF16';

/** Merged logits against the adapter's (a wrong merge differs by the adapter's own effect). */
export interface MergeCheck {
  maxAbsLogitDiff: number;
  threshold: number;
  flagged: boolean;
  mergedDtype: WeightsDtype;
  message: string;
}

/** Tuned logits against the base's (a fresh adapter, B = 0, changes nothing). */
export interface EffectCheck {
  meanAbsLogitDiff: number;
  threshold: number;
  flagged: boolean;
  compared: 'adapter' | 'merged';
  message: string;
}

export interface EvalReport {
  formatVersion: 1;
  createdAt: string;
  sources: EvalSources;
  examples: number;
  base?: ModelScores;
  adapter?: ModelScores;
  merged?: ModelScores;
  mergeCheck?: MergeCheck;
  effectCheck?: EffectCheck;
  generation: GenerationSettings;
  generations: GenerationEntry[];
  timings: { scoringMs: number; generationMs: number };
  notes: string[];
}
