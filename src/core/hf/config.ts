// Hugging Face config.json → ModelSpec: the architecture-neutral description the engine builds
// models from. Pure (no tensors), so parameter counts work from a bare config.json.
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Family = 'gpt2' | 'llama' | 'mistral' | 'qwen2';

/** The class names of `architectures[0]` we load, by family. */
export const SUPPORTED_ARCHITECTURES: Record<string, Family> = {
  GPT2LMHeadModel: 'gpt2',
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
};

export type RopeScaling =
  | { type: 'none' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface ModelSpec {
  family: Family;
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPositions: number;
  normEps: number;
  tieWordEmbeddings: boolean;
  /** Biases on q/k/v projections (Qwen2; Llama with attention_bias). */
  qkvBias: boolean;
  /** Bias on the attention output projection (Llama with attention_bias). */
  oBias: boolean;
  /** Biases on gate/up/down (Llama with mlp_bias). */
  mlpBias: boolean;
  activation: 'gelu_new' | 'gelu' | 'relu' | 'silu';
  ropeTheta: number;
  ropeScaling: RopeScaling;
  /** Mistral's sliding-window attention; undefined means full causal attention. */
  slidingWindow?: number;
  /** GPT-2 only: scale attention scores by 1/(layer index + 1) as well. */
  scaleAttnByInverseLayerIdx: boolean;
  /**
   * The model's own dropout probabilities, applied in training only (models/baseDropout.ts):
   * GPT-2's embd_pdrop (after wte + wpe), attn_pdrop (attention probabilities) and resid_pdrop
   * (after the attention's and the MLP's c_proj); Llama/Mistral/Qwen2's attention_dropout
   * (attention probabilities; embd and resid 0). Absent: all 0.
   */
  dropout?: DropoutProbs;
  /** dtype named by the config (informational; the weights file decides). */
  torchDtype?: string;
  bosTokenId?: number;
  eosTokenId?: number | number[];
}

export interface DropoutProbs {
  embd: number;
  attn: number;
  resid: number;
}

export class ConfigError extends Error {
  constructor(message: string, readonly file: string) {
    super(`${file}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Json = Record<string, unknown>;

function num(cfg: Json, key: string, file: string, fallback?: number): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`missing "${key}" (a number is required)`, file);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`"${key}" must be a number, found ${JSON.stringify(v)}`, file);
  return v;
}

function posInt(cfg: Json, key: string, file: string, fallback?: number): number {
  const v = num(cfg, key, file, fallback);
  if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`"${key}" must be a positive integer, found ${v}`, file);
  return v;
}

// Bounds on the sizes that shape tensors and per-layer bookkeeping, far above any published
// model (Llama 3.1 405B: 126 layers, hidden 16384, MLP 53248; Gemma 3: vocab 262144). Past
// them config.json is corrupt or hostile: n_layer 10^6 used to take 25 s and 2.9 GB listing
// modules before the memory pre-flight could refuse it, and a width of 10^9 reached the
// pre-flight as terabytes with no field named.
export const MAX_LAYERS = 1024;
export const MAX_WIDTH = 2 ** 20;

/** A positive integer at most `max`: a layer count or a width. */
function size(cfg: Json, key: string, file: string, max: number, fallback?: number): number {
  const v = posInt(cfg, key, file, fallback);
  if (v > max) {
    throw new ConfigError(`"${key}" is ${v}, over the ${max} this tool loads (far above any published model); the file is likely corrupt. Re-download config.json or fix the value`, file);
  }
  return v;
}

/** A dropout probability in [0, 1); `fallback` is the config class's default when the key is absent. */
function probability(cfg: Json, key: string, file: string, fallback: number): number {
  const v = num(cfg, key, file, fallback);
  if (v < 0 || v >= 1) throw new ConfigError(`"${key}" must be a dropout probability in [0, 1), found ${v}`, file);
  return v;
}

function bool(cfg: Json, key: string, fallback: boolean): boolean {
  const v = cfg[key];
  return typeof v === 'boolean' ? v : fallback;
}

function architectureOf(cfg: Json, file: string): string {
  const archs = cfg.architectures;
  if (Array.isArray(archs) && typeof archs[0] === 'string') return archs[0];
  // Some configs omit "architectures": fall back on model_type.
  const byType: Record<string, string> = { gpt2: 'GPT2LMHeadModel', llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM' };
  const mt = cfg.model_type;
  if (typeof mt === 'string' && byType[mt]) return byType[mt];
  throw new ConfigError(
    `no "architectures" and model_type ${JSON.stringify(mt)} is not one we load. Supported: ${Object.keys(SUPPORTED_ARCHITECTURES).join(', ')}.`,
    file,
  );
}

function ropeTheta(cfg: Json, file: string): number {
  if (cfg.rope_theta !== undefined) return num(cfg, 'rope_theta', file);
  const rp = cfg.rope_parameters as Json | undefined;
  if (rp && typeof rp === 'object' && rp.rope_theta !== undefined) return num(rp, 'rope_theta', file);
  return 10000; // LlamaConfig's default
}

function parseRopeScaling(cfg: Json, file: string): RopeScaling {
  // transformers ≥ 5 writes `rope_parameters` (theta inside); older configs `rope_scaling`.
  const rs = (cfg.rope_scaling ?? cfg.rope_parameters) as Json | null | undefined;
  if (rs === undefined || rs === null) return { type: 'none' };
  if (typeof rs !== 'object' || Array.isArray(rs)) throw new ConfigError('rope_scaling / rope_parameters must be an object', file);
  if (Object.values(rs).some((v) => typeof v === 'object' && v !== null && !Array.isArray(v))) {
    throw new ConfigError('per-layer-type rope_parameters are not supported', file);
  }
  const kind = (rs.rope_type ?? rs.type) as string | undefined;
  if (kind === undefined || kind === 'default') return { type: 'none' };
  if (kind === 'linear') return { type: 'linear', factor: num(rs, 'factor', file) };
  if (kind === 'llama3') {
    return {
      type: 'llama3',
      factor: num(rs, 'factor', file),
      lowFreqFactor: num(rs, 'low_freq_factor', file),
      highFreqFactor: num(rs, 'high_freq_factor', file),
      originalMaxPositions: posInt(rs, 'original_max_position_embeddings', file),
    };
  }
  throw new ConfigError(`rope_scaling type "${kind}" is not supported (supported: default, linear, llama3)`, file);
}

function parseGpt2(cfg: Json, file: string, architecture: string): ModelSpec {
  const hidden = size(cfg, 'n_embd', file, MAX_WIDTH);
  const heads = size(cfg, 'n_head', file, MAX_WIDTH);
  if (hidden % heads !== 0) throw new ConfigError(`n_embd (${hidden}) is not divisible by n_head (${heads})`, file);
  const act = (cfg.activation_function ?? 'gelu_new') as string;
  if (!['gelu_new', 'gelu', 'relu'].includes(act)) {
    throw new ConfigError(`activation_function "${act}" is not supported for GPT-2 (supported: gelu_new, gelu, relu)`, file);
  }
  if (cfg.add_cross_attention === true) throw new ConfigError('add_cross_attention is not supported (decoder-only models only)', file);
  return {
    family: 'gpt2',
    architecture,
    vocabSize: size(cfg, 'vocab_size', file, MAX_WIDTH),
    hiddenSize: hidden,
    numLayers: size(cfg, 'n_layer', file, MAX_LAYERS),
    numHeads: heads,
    numKvHeads: heads,
    headDim: hidden / heads,
    // GPT-2's MLP is 4× wide unless n_inner says otherwise.
    intermediateSize: cfg.n_inner == null ? 4 * hidden : size(cfg, 'n_inner', file, MAX_WIDTH),
    maxPositions: posInt(cfg, 'n_positions', file, 1024),
    normEps: num(cfg, 'layer_norm_epsilon', file, 1e-5),
    tieWordEmbeddings: bool(cfg, 'tie_word_embeddings', true),
    qkvBias: true,
    oBias: true,
    mlpBias: true,
    activation: act as ModelSpec['activation'],
    ropeTheta: 0,
    ropeScaling: { type: 'none' },
    scaleAttnByInverseLayerIdx: bool(cfg, 'scale_attn_by_inverse_layer_idx', false),
    // GPT2Config's defaults are 0.1 each (the released gpt2/distilgpt2 configs say 0.1 too).
    dropout: { embd: probability(cfg, 'embd_pdrop', file, 0.1), attn: probability(cfg, 'attn_pdrop', file, 0.1), resid: probability(cfg, 'resid_pdrop', file, 0.1) },
    torchDtype: typeof cfg.torch_dtype === 'string' ? cfg.torch_dtype : undefined,
    bosTokenId: typeof cfg.bos_token_id === 'number' ? cfg.bos_token_id : undefined,
    eosTokenId: cfg.eos_token_id as number | number[] | undefined,
  };
}

function parseLlamaLike(cfg: Json, file: string, architecture: string, family: Family): ModelSpec {
  const hidden = size(cfg, 'hidden_size', file, MAX_WIDTH);
  const heads = size(cfg, 'num_attention_heads', file, MAX_WIDTH);
  const kvHeads = size(cfg, 'num_key_value_heads', file, MAX_WIDTH, heads);
  if (heads % kvHeads !== 0) {
    throw new ConfigError(`num_attention_heads (${heads}) must be a multiple of num_key_value_heads (${kvHeads})`, file);
  }
  const headDim = cfg.head_dim == null ? hidden / heads : size(cfg, 'head_dim', file, MAX_WIDTH);
  if (!Number.isInteger(headDim)) throw new ConfigError(`hidden_size (${hidden}) is not divisible by num_attention_heads (${heads}) and head_dim is not set`, file);
  if (headDim % 2 !== 0) throw new ConfigError(`head_dim ${headDim} must be even for rotary embeddings`, file);
  const act = (cfg.hidden_act ?? 'silu') as string;
  if (act !== 'silu') throw new ConfigError(`hidden_act "${act}" is not supported for ${architecture} (supported: silu)`, file);
  const attentionBias = bool(cfg, 'attention_bias', false);
  // Qwen2 only slides its window when use_sliding_window is set; Mistral always does when sliding_window is set.
  let slidingWindow: number | undefined;
  if (family === 'mistral' && typeof cfg.sliding_window === 'number') slidingWindow = cfg.sliding_window;
  if (family === 'qwen2' && cfg.use_sliding_window === true && typeof cfg.sliding_window === 'number') {
    throw new ConfigError('Qwen2 use_sliding_window=true (per-layer windows) is not supported', file);
  }
  const partialRotary = cfg.partial_rotary_factor;
  if (typeof partialRotary === 'number' && partialRotary !== 1) throw new ConfigError(`partial_rotary_factor ${partialRotary} is not supported`, file);
  return {
    family,
    architecture,
    vocabSize: size(cfg, 'vocab_size', file, MAX_WIDTH),
    hiddenSize: hidden,
    numLayers: size(cfg, 'num_hidden_layers', file, MAX_LAYERS),
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim,
    intermediateSize: size(cfg, 'intermediate_size', file, MAX_WIDTH),
    maxPositions: posInt(cfg, 'max_position_embeddings', file, 2048),
    normEps: num(cfg, 'rms_norm_eps', file, 1e-6),
    tieWordEmbeddings: bool(cfg, 'tie_word_embeddings', false),
    qkvBias: family === 'qwen2' ? true : attentionBias,
    oBias: family === 'qwen2' ? false : attentionBias,
    mlpBias: bool(cfg, 'mlp_bias', false),
    activation: 'silu',
    ropeTheta: ropeTheta(cfg, file),
    ropeScaling: parseRopeScaling(cfg, file),
    slidingWindow,
    scaleAttnByInverseLayerIdx: false,
    dropout: { embd: 0, attn: probability(cfg, 'attention_dropout', file, 0), resid: 0 },
    torchDtype: typeof cfg.torch_dtype === 'string' ? cfg.torch_dtype : typeof cfg.dtype === 'string' ? cfg.dtype : undefined,
    bosTokenId: typeof cfg.bos_token_id === 'number' ? cfg.bos_token_id : undefined,
    eosTokenId: cfg.eos_token_id as number | number[] | undefined,
  };
}

/** Parses a config.json object. `file` names the source in errors. */
export function parseConfig(cfg: unknown, file = 'config.json'): ModelSpec {
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new ConfigError('must contain a JSON object', file);
  const json = cfg as Json;
  const architecture = architectureOf(json, file);
  const family = SUPPORTED_ARCHITECTURES[architecture];
  if (!family) {
    throw new ConfigError(
      `architecture "${architecture}" is not supported. Supported: ${Object.keys(SUPPORTED_ARCHITECTURES).join(', ')} ` +
        '(GPT-2/distilgpt2, Llama/SmolLM/TinyLlama, Mistral, Qwen2).',
      file,
    );
  }
  return family === 'gpt2' ? parseGpt2(json, file, architecture) : parseLlamaLike(json, file, architecture, family);
}

/** Path of config.json for a model folder or a config file path. */
export function configPathOf(dirOrFile: string): string {
  if (fs.existsSync(dirOrFile) && fs.statSync(dirOrFile).isDirectory()) return path.join(dirOrFile, 'config.json');
  return dirOrFile;
}

/** Reads and parses config.json from a model folder (or the path of a config file). */
export function readConfig(dirOrFile: string): { spec: ModelSpec; raw: Record<string, unknown>; file: string } {
  const file = configPathOf(dirOrFile);
  if (!fs.existsSync(file)) {
    throw new ConfigError('not found: a Hugging Face model folder needs config.json (and model.safetensors)', file);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`is not valid JSON (${(e as Error).message})`, file);
  }
  return { spec: parseConfig(raw, file), raw: raw as Record<string, unknown>, file };
}
