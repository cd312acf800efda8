// The linear modules of each architecture under the names PyTorch/PEFT give them, and the
// base parameter count, both from a ModelSpec alone (no weights): the single source of truth
// for LoRA targeting, parameter arithmetic and adapter tensor names.
import type { ModelSpec } from '../hf/config';

export interface LinearModule {
  /** Module path inside the *ForCausalLM model, as PEFT names it: `transformer.h.0.attn.c_attn`, `model.layers.3.self_attn.q_proj`. */
  path: string;
  /** Leaf name used by `target_modules`: `c_attn`, `q_proj`, ... */
  name: string;
  layer: number;
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
  /** GPT-2's Conv1D stores its weight as (in, out): PEFT's `fan_in_fan_out`. */
  fanInFanOut: boolean;
}

export function gpt2Modules(spec: ModelSpec): LinearModule[] {
  const d = spec.hiddenSize;
  const inner = spec.intermediateSize;
  const out: LinearModule[] = [];
  for (let i = 0; i < spec.numLayers; i++) {
    const p = `transformer.h.${i}`;
    const mk = (sub: string, name: string, inF: number, outF: number): LinearModule => ({
      path: `${p}.${sub}.${name}`, name, layer: i, inFeatures: inF, outFeatures: outF, bias: true, fanInFanOut: true,
    });
    out.push(mk('attn', 'c_attn', d, 3 * d), mk('attn', 'c_proj', d, d), mk('mlp', 'c_fc', d, inner), mk('mlp', 'c_proj', inner, d));
  }
  return out;
}

export function llamaModules(spec: ModelSpec): LinearModule[] {
  const d = spec.hiddenSize;
  const q = spec.numHeads * spec.headDim;
  const kv = spec.numKvHeads * spec.headDim;
  const inter = spec.intermediateSize;
  const out: LinearModule[] = [];
  for (let i = 0; i < spec.numLayers; i++) {
    const p = `model.layers.${i}`;
    const mk = (sub: string, name: string, inF: number, outF: number, bias: boolean): LinearModule => ({
      path: `${p}.${sub}.${name}`, name, layer: i, inFeatures: inF, outFeatures: outF, bias, fanInFanOut: false,
    });
    out.push(
      mk('self_attn', 'q_proj', d, q, spec.qkvBias),
      mk('self_attn', 'k_proj', d, kv, spec.qkvBias),
      mk('self_attn', 'v_proj', d, kv, spec.qkvBias),
      mk('self_attn', 'o_proj', q, d, spec.oBias),
      mk('mlp', 'gate_proj', d, inter, spec.mlpBias),
      mk('mlp', 'up_proj', d, inter, spec.mlpBias),
      mk('mlp', 'down_proj', inter, d, spec.mlpBias),
    );
  }
  return out;
}

/** Every linear module inside the transformer blocks (the LM head is not a LoRA target: PEFT's all-linear excludes it). */
export function linearModules(spec: ModelSpec): LinearModule[] {
  return spec.family === 'gpt2' ? gpt2Modules(spec) : llamaModules(spec);
}

/** Leaf names a user may target for this architecture. */
export function moduleNames(spec: ModelSpec): string[] {
  return spec.family === 'gpt2' ? ['c_attn', 'c_proj', 'c_fc'] : ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
}

/** PEFT's default target_modules per architecture (peft's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
export function defaultTargets(spec: ModelSpec): string[] {
  return spec.family === 'gpt2' ? ['c_attn'] : ['q_proj', 'v_proj'];
}

/**
 * Parameters of the base model as PyTorch counts `model.parameters()`: tied embeddings once,
 * buffers (GPT-2's attn.bias mask, rotary inv_freq) not at all.
 */
export function baseParameterCount(spec: ModelSpec): number {
  const d = spec.hiddenSize;
  const V = spec.vocabSize;
  let total = V * d; // token embeddings
  let perLayerNorms: number;
  let finalNorm: number;
  if (spec.family === 'gpt2') {
    total += spec.maxPositions * d; // learned positions (wpe)
    perLayerNorms = 2 * (2 * d); // ln_1, ln_2: weight + bias
    finalNorm = 2 * d;
  } else {
    perLayerNorms = 2 * d; // input_layernorm, post_attention_layernorm: weight only
    finalNorm = d;
  }
  for (const m of linearModules(spec)) total += m.inFeatures * m.outFeatures + (m.bias ? m.outFeatures : 0);
  total += spec.numLayers * perLayerNorms + finalNorm;
  if (!spec.tieWordEmbeddings) total += V * d; // separate lm_head (no bias in any supported family)
  return total;
}
