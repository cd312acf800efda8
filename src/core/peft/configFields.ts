// Every field PEFT's LoraConfig writes into adapter_config.json (PEFT 0.21.2, the pinned version:
// scripts/gen_peft_fields.py lists them from dataclasses.fields(peft.LoraConfig) into
// test/fixtures/peft/loraconfig-fields.json, and a test checks this table covers them all), with
// what LoRA Lab does with it when it reads an adapter:
//   honoured — read and applied (loading, merging, parameter counts) with PEFT's meaning;
//   ignored  — read and dropped, because it cannot change what the adapter computes (each says why);
//   refused  — any value but PEFT's default stops the load with an error naming the field and the file,
//              because LoRA Lab does not implement what it means and ignoring it would misread the adapter.
// A field this table does not know (a newer PEFT): absent, null, false, "", {} or [] (what PEFT's
// defaults look like) gives a warning naming it; any other value is refused, because every option
// PEFT has added with a non-default value so far (lora_bias, alora, …) changed the math.
// Pure: no file access, so the webview and tests can use it.

export type FieldRule =
  | { kind: 'honoured'; what: string }
  | { kind: 'ignored'; why: string }
  | { kind: 'refused'; what: string; isDefault: (v: unknown) => boolean };

const isNull = (v: unknown) => v === undefined || v === null;
const isFalse = (v: unknown) => isNull(v) || v === false;
const isEmpty = (v: unknown) =>
  isNull(v) || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);

const refused = (what: string, isDefault: (v: unknown) => boolean = isNull): FieldRule => ({ kind: 'refused', what, isDefault });

/** init_lora_weights values whose stored weights are a plain LoRA adapter on the unchanged base. */
export const SUPPORTED_INITS: readonly unknown[] = [true, false, 'gaussian'];

export const LORA_CONFIG_FIELDS: Readonly<Record<string, FieldRule>> = {
  task_type: { kind: 'honoured', what: 'CAUSAL_LM (or unset) only: other task types (SEQ_CLS, TOKEN_CLS, …) put the adapter on another head and are refused' },
  peft_type: { kind: 'honoured', what: 'must be LORA: other PEFT methods are refused' },
  auto_mapping: { kind: 'ignored', why: "names the Python base class for PEFT's AutoPeftModel; the base here is the model folder the user chose" },
  peft_version: { kind: 'ignored', why: 'informational: the PEFT version that wrote the file; the fields themselves are checked here' },
  base_model_name_or_path: { kind: 'honoured', what: 'kept as the adapter base model hint (model card, run.json); the base loaded is the folder given' },
  revision: { kind: 'ignored', why: 'the Hub revision of the base to download; LoRA Lab loads the base from a local folder, checked against the tensor shapes' },
  inference_mode: { kind: 'ignored', why: 'whether PEFT freezes the adapter when loading; it does not change the forward, and training here decides what is trainable' },
  r: { kind: 'honoured', what: 'the rank of lora_A / lora_B, checked against every tensor' },
  target_modules: { kind: 'honoured', what: "the adapted modules by PEFT's matching rules, checked against the tensors" },
  exclude_modules: { kind: 'honoured', what: "modules removed from target_modules' selection, by PEFT's matching rules" },
  lora_alpha: { kind: 'honoured', what: 'the scale alpha/r (alpha/√r with use_rslora)' },
  lora_dropout: { kind: 'honoured', what: 'dropout on the LoRA input in training' },
  fan_in_fan_out: {
    kind: 'ignored',
    why: "the base layer's weight layout, which LoRA Lab knows from the architecture (GPT-2 Conv1D stores (in, out), PEFT forces true there); lora_A/lora_B are stored (r, in)/(out, r) either way",
  },
  bias: refused('bias other than "none" trains and stores the base biases', (v) => isNull(v) || v === 'none'),
  use_rslora: { kind: 'honoured', what: 'scale alpha/√r instead of alpha/r' },
  modules_to_save: refused('modules_to_save stores whole trained modules (heads, embeddings) beside the LoRA matrices', isEmpty),
  init_lora_weights: {
    kind: 'honoured',
    what: 'true, false and "gaussian" (the saved weights are then a plain LoRA adapter); every other value (pissa, olora, corda, loftq, eva, orthogonal, lora_ga, …) is refused by name',
  },
  layers_to_transform: { kind: 'honoured', what: 'the layer indices adapted' },
  layers_pattern: { kind: 'honoured', what: 'the name of the layer list layers_to_transform indexes' },
  rank_pattern: { kind: 'honoured', what: "per-module r, keys matched as PEFT's get_pattern_key" },
  alpha_pattern: { kind: 'honoured', what: "per-module lora_alpha, keys matched as PEFT's get_pattern_key" },
  megatron_config: refused('megatron_config makes the LoRA layers Megatron-LM tensor-parallel layers'),
  megatron_core: { kind: 'ignored', why: 'the Python module used only when megatron_config is set, which is refused' },
  trainable_token_indices: refused('trainable_token_indices trains and stores embedding rows beside the LoRA matrices'),
  loftq_config: refused('loftq_config (LoftQ) makes the adapter relative to a quantised base', isEmpty),
  eva_config: refused('eva_config (EVA) initialises from activations and redistributes ranks; not implemented here'),
  corda_config: refused('corda_config (CorDA) makes the adapter relative to a base CorDA modified'),
  lora_ga_config: refused('lora_ga_config (LoRA-GA) makes the adapter relative to a base LoRA-GA modified'),
  use_dora: {
    kind: 'honoured',
    what: "DoRA on the linear modules LoRA Lab adapts (nn.Linear, GPT-2's Conv1D): each module's lora_magnitude_vector is read, trained, merged and saved (lora/dora.ts)",
  },
  velora_config: refused('velora_config (VeLoRA) is a LoRA variant with different math'),
  alora_invocation_tokens: refused('alora_invocation_tokens (activated LoRA) applies the adapter only after the invocation tokens'),
  use_qalora: refused('use_qalora (QALoRA) pools the input for a quantised base', isFalse),
  qalora_group_size: { kind: 'ignored', why: 'the pooling group of QALoRA, used only when use_qalora is true, which is refused' },
  monteclora_config: refused('monteclora_config (MonteCLoRA) is a LoRA variant with different math'),
  layer_replication: refused('layer_replication builds a deeper base by repeating layers'),
  runtime_config: { kind: 'ignored', why: 'runtime-only options (ephemeral GPU offload); PEFT does not even write it (LoraConfig.to_dict pops it)' },
  lora_bias: refused('lora_bias adds a trained bias to lora_B', isFalse),
  target_parameters: refused('target_parameters puts LoRA on raw parameters (such as MoE experts), not modules', isEmpty),
  use_bdlora: refused('use_bdlora (BD-LoRA) uses block-diagonal factors', isFalse),
  arrow_config: refused('arrow_config (Arrow routing) mixes several adapters per token'),
  kasa_config: refused('kasa_config (KaSA) is a LoRA variant with different math'),
  ensure_weight_tying: {
    kind: 'ignored',
    why: 'acts only on tied embedding/lm_head adapters, modules_to_save and trainable tokens, none of which LoRA Lab reads (those are refused)',
  },
};

/** What PEFT's defaults look like: absent, null, false, "", {} or []. */
export function defaultLooking(v: unknown): boolean {
  return isFalse(v) || v === '' || isEmpty(v);
}

export interface FieldCheck {
  /** The first refused field, as a sentence naming it; undefined when the config loads. */
  refused?: string;
  /** Fields this table does not know, with default-looking values: warn, naming them. */
  unknown: string[];
}

/** Walks adapter_config.json's keys against the table (the LoraConfig semantics of PEFT_FORMAT_VERSION). */
export function checkConfigFields(c: Record<string, unknown>, peftVersion: string): FieldCheck {
  const unknown: string[] = [];
  // First what the adapter is: another PEFT method's fields would otherwise read as unknown LoRA fields.
  if (c.peft_type !== 'LORA') return { refused: `peft_type=${JSON.stringify(c.peft_type)} is not supported by LoRA Lab: only LORA adapters are read`, unknown };
  const task = c.task_type;
  if (!isNull(task) && task !== 'CAUSAL_LM') return { refused: `task_type=${JSON.stringify(task)} is not supported by LoRA Lab: only CAUSAL_LM adapters are read`, unknown };
  for (const [key, v] of Object.entries(c)) {
    const rule = LORA_CONFIG_FIELDS[key];
    if (!rule) {
      if (!defaultLooking(v)) {
        return {
          refused: `${key}=${JSON.stringify(v)} is not a LoraConfig field of PEFT ${peftVersion} (a newer PEFT's option?): LoRA Lab does not know what it does, so it will not guess; if it does not change the LoRA math, remove the key`,
          unknown,
        };
      }
      unknown.push(key);
    } else if (rule.kind === 'refused' && !rule.isDefault(v)) {
      return { refused: `${key}=${JSON.stringify(v)} is not supported by LoRA Lab: ${rule.what}; train or convert the adapter without it`, unknown };
    }
  }
  const init = c.init_lora_weights;
  if (init !== undefined && !SUPPORTED_INITS.includes(init)) {
    const converted = typeof init === 'string' && /^(pissa|olora|corda|loftq|lora_ga)/i.test(init);
    return {
      refused: `init_lora_weights=${JSON.stringify(init)} is not supported by LoRA Lab (supported: true, false, "gaussian")${
        converted
          ? ': the adapter is relative to a base that this initialisation modified; in PEFT, save it with save_pretrained(..., path_initial_model_for_weight_conversion=...) to get a plain LoRA adapter for the original base'
          : ''
      }`,
      unknown,
    };
  }
  return { unknown };
}
