// The evaluation report (eval.json), defined once: written by src/core/eval/evaluate.ts, read back
// by the host (decodeEvalReport) and shown by the panel's Evaluation section. Pure: the webview
// bundle imports this.
import { decoder, fail, Fields, type Decoder } from './decode';

/** The evaluation report's file name in a run folder. */
export const EVAL_FILE = 'eval.json';

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

// --- Decoder -------------------------------------------------------------------------------------

const STOP_REASONS: readonly StopReason[] = ['eos', 'max-new-tokens', 'max-positions'];
const DTYPES: readonly WeightsDtype[] = ['F32', 'F16', 'BF16'];

function scores(f: Fields): ModelScores {
  return { loss: f.num('loss'), perplexity: f.num('perplexity'), tokens: f.num('tokens'), accuracy: f.num('accuracy') };
}

function tokensText(f: Fields): TokensText {
  const text = f.optStr('text');
  return { ids: f.numbers('ids'), ...(text !== undefined ? { text } : {}) };
}

function generationOut(f: Fields): GenerationOut {
  return { ...tokensText(f), stop: f.oneOf('stop', STOP_REASONS), ms: f.num('ms') };
}

function generationEntry(v: unknown, path: string): GenerationEntry {
  const f = Fields.of(v, path);
  const o = f.obj('outputs');
  const outputs: GenerationEntry['outputs'] = {};
  for (const role of MODEL_ROLES) {
    const pair = o.optObj(role);
    if (pair) outputs[role] = { greedy: generationOut(pair.obj('greedy')), sampled: generationOut(pair.obj('sampled')) };
  }
  return { prompt: tokensText(f.obj('prompt')), reference: tokensText(f.obj('reference')), outputs };
}

function mergeCheck(f: Fields): MergeCheck {
  return { maxAbsLogitDiff: f.num('maxAbsLogitDiff'), threshold: f.num('threshold'), flagged: f.bool('flagged'), mergedDtype: f.oneOf('mergedDtype', DTYPES), message: f.str('message') };
}

function effectCheck(f: Fields): EffectCheck {
  return { meanAbsLogitDiff: f.num('meanAbsLogitDiff'), threshold: f.num('threshold'), flagged: f.bool('flagged'), compared: f.oneOf('compared', ['adapter', 'merged'] as const), message: f.str('message') };
}

/** eval.json, parsed: the report as evaluate.ts writes it (formatVersion 1), or why it is not one. */
export const decodeEvalReport: Decoder<EvalReport> = decoder((v) => {
  const f = Fields.of(v, '');
  if (f.raw.formatVersion !== 1) fail(f.at('formatVersion'), f.raw.formatVersion, '1 (written by another LoRA Lab version: run Evaluate again)');
  const src = f.obj('sources');
  const optional = (k: string) => src.optStr(k);
  const sources: EvalSources = { model: src.str('model') };
  for (const k of ['adapter', 'merged', 'data'] as const) {
    const x = optional(k);
    if (x !== undefined) sources[k] = x;
  }
  const report: EvalReport = {
    formatVersion: 1, createdAt: f.str('createdAt'), sources, examples: f.num('examples'),
    generation: generationSettings(f.obj('generation')),
    generations: f.list('generations', generationEntry),
    timings: { scoringMs: f.obj('timings').num('scoringMs'), generationMs: f.obj('timings').num('generationMs') },
    notes: f.strings('notes'),
  };
  for (const role of MODEL_ROLES) {
    const s = f.optObj(role);
    if (s) report[role] = scores(s);
  }
  const m = f.optObj('mergeCheck');
  if (m) report.mergeCheck = mergeCheck(m);
  const e = f.optObj('effectCheck');
  if (e) report.effectCheck = effectCheck(e);
  return report;
});

function generationSettings(f: Fields): GenerationSettings {
  return { maxNewTokens: f.num('maxNewTokens'), temperature: f.num('temperature'), topP: f.num('topP'), seed: f.num('seed'), eosIds: f.numbers('eosIds') };
}
