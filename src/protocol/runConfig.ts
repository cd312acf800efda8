// The run configuration, defined once: one row per field with its key (the same word in the
// RunConfig, run.json, the `loraLab.*` setting and the panel's form), PEFT's or HF Trainer's name
// for it, its CLI flag, default, check and help text. Settings (host/settings.ts), `lora-lab train`
// flags and --help (cli/train.ts), the form (webview/formModel.ts) and run.json validation
// (core/runConfig.ts) all read RUN_FIELDS through the helpers below it (read, check, rename old
// keys, fill defaults, decode, parse text, render as setting, flag and hint);
// test/unit/runConfigSchema.test.ts holds package.json's contributes.configuration to it.
// Pure and dependency-free: the webview bundle imports it.
// The shape follows mlx-lm's TrainingArgs (tuner/trainer.py): default and help in one declaration.

export const SCHEDULES = ['constant', 'linear', 'cosine'] as const;
export type ScheduleKind = (typeof SCHEDULES)[number];
export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export const BAD_ROW_POLICIES = ['fail', 'skip'] as const;
export type BadRowPolicy = (typeof BAD_ROW_POLICIES)[number];
export const LORA_INITS = ['kaiming', 'gaussian', 'pissa', 'olora'] as const;
/** The choices, plus PEFT's fast PiSSA `pissa_niter_N` (N subspace iterations of torch.svd_lowrank). */
export type LoraInit = (typeof LORA_INITS)[number] | `pissa_niter_${number}`;
/** PEFT's target_modules value for every linear layer in the blocks. */
export const ALL_LINEAR = 'all-linear';

/** The resolved configuration of a training run; run.json's `config`. Each leaf is a row of RUN_FIELDS. */
export interface RunConfig {
  model: string;
  data: string;
  valid?: string;
  /** A case file (*.evals.jsonl) the end-of-run evaluation also runs on base, adapter and merged (<run>/evals/<name>.json). */
  evals?: string;
  /** Workspace folder the runs folder is relative to. */
  workspace: string;
  runsDir: string;
  /** Continue training this PEFT adapter folder (its r, alpha and targets win over `lora`). */
  initAdapter?: string;
  name?: string;
  lora: {
    r: number;
    alpha: number;
    dropout: number;
    /** undefined = PEFT's default targets for the architecture. */
    targetModules?: string[] | typeof ALL_LINEAR;
    useRslora: boolean;
    /** DoRA (PEFT's use_dora): a trained magnitude per output of each adapted module. */
    useDora: boolean;
    init: LoraInit;
    layers?: number[];
    /** PEFT's rank_pattern as `pattern=r` entries in order (the first key matching a module wins); undefined = r everywhere. */
    rankPattern?: string[];
    /** PEFT's alpha_pattern as `pattern=alpha` entries, matched the same way. */
    alphaPattern?: string[];
  };
  training: {
    learningRate: number;
    schedule: ScheduleKind;
    /** Fraction of total steps spent warming up (used when warmupSteps is undefined). */
    warmupRatio: number;
    warmupSteps?: number;
    epochs: number;
    maxSteps?: number;
    batchSize: number;
    gradientAccumulation: number;
    maxSeqLen: number;
    maxGradNorm: number;
    weightDecay: number;
    /** LoRA+: lora_B learns at learningRate × this (PEFT's create_loraplus_optimizer); undefined = one rate for A and B. */
    loraplusLrRatio?: number;
    beta1: number;
    beta2: number;
    eps: number;
    seed: number;
    reportEvery: number;
    /** undefined = about 10 evaluations per run. */
    evalEvery?: number;
    /** undefined = with every evaluation. */
    checkpointEvery?: number;
    earlyStoppingPatience: number;
    /** Batches of examples of similar length (shuffled in groups of up to 50 batches): less padding. */
    groupByLength: boolean;
    /** The base model's own dropout (GPT-2 attn/resid/embd_pdrop, Llama attention_dropout) in training, as model.train(). */
    baseDropout: boolean;
  };
  dataOptions: {
    badRows: BadRowPolicy;
    /** Largest row read, in bytes (checked while reading, before tokenizing). */
    maxRowBytes: number;
    validationFraction: number;
    textColumn?: string;
    promptColumn?: string;
    completionColumn?: string;
  };
  backend: BackendChoice;
  threads?: number;
  /** Stop before tensors pass this many bytes (default: the backend's own safe limit, if it has one). */
  memoryLimitBytes?: number;
}

export type RunConfigInput = Partial<Omit<RunConfig, 'lora' | 'training' | 'dataOptions'>> & {
  lora?: Partial<RunConfig['lora']>;
  training?: Partial<RunConfig['training']>;
  dataOptions?: Partial<RunConfig['dataOptions']>;
};

/** The nested groups of RunConfig; 'run' is the top level. */
export type FieldGroup = 'lora' | 'training' | 'dataOptions' | 'run';
type TopKey = 'backend' | 'threads' | 'memoryLimitBytes';
export type FieldKey<G extends FieldGroup> = G extends 'run' ? TopKey : G extends 'lora' | 'training' | 'dataOptions' ? keyof RunConfig[G] & string : never;
export type FieldValue = number | string | boolean | string[] | number[];

/**
 * How a value is typed and checked. `modules`: PEFT's target_modules (names, or all-linear);
 * `layers`: a list of layer indices (PEFT's layers_to_transform), written "0, 2, 4-6";
 * `pattern`: PEFT's rank_pattern / alpha_pattern as `regex=number` entries, written "c_attn=8, mlp\.c_proj=4".
 */
export type FieldKind = 'integer' | 'number' | 'boolean' | 'enum' | 'string' | 'modules' | 'layers' | 'pattern';

interface FieldSpec {
  /** PEFT LoraConfig's name, for export. */
  peft?: string;
  /** Hugging Face TrainingArguments' name, for export (max_seq_length is TRL SFTConfig's, early_stopping_patience EarlyStoppingCallback's). */
  trainer?: string;
  kind: FieldKind;
  /** undefined: unset by default, and `whenUnset` says what happens. */
  default?: FieldValue;
  whenUnset?: string;
  min?: number;
  max?: number;
  exclusiveMin?: number;
  exclusiveMax?: number;
  choices?: readonly string[];
  /** An enum's values beyond `choices`, by pattern (`text` names them in messages: pissa_niter_<N>). */
  choicePattern?: { re: RegExp; text: string };
  /** One line per choice (the settings UI shows them). */
  choiceHelp?: readonly string[];
  /** One phrase without a final period: the setting's description, the flag's --help, the form's hint. */
  help: string;
  /** The form's label (and the field's name in its messages). */
  label: string;
  /** A `loraLab.<section>.<key>` setting exists (section: lora, training, data; none for the top level). */
  setting?: boolean;
  flag?: string;
  /** A boolean whose default is true: its flag (--no-…) turns it off. */
  flagTurnsOff?: boolean;
  valueName?: string;
  /** The flag takes another unit than the field: `value × factor` (MiB → bytes). */
  flagUnit?: { name: string; factor: number };
}

export type RunField = FieldSpec & { [G in FieldGroup]: { group: G; key: FieldKey<G> } }[FieldGroup];

function field<G extends FieldGroup>(group: G, key: FieldKey<G>, spec: FieldSpec): RunField {
  return { group, key, ...spec } as RunField;
}

/** The fields, in the order of the settings UI, the form and --help. */
export const RUN_FIELDS: readonly RunField[] = [
  field('lora', 'r', {
    peft: 'r', kind: 'integer', default: 8, min: 1, setting: true, flag: 'rank', valueName: 'r',
    label: 'Rank r', help: 'LoRA rank r: A is r × in, B is out × r',
  }),
  field('lora', 'alpha', {
    peft: 'lora_alpha', kind: 'number', default: 16, exclusiveMin: 0, setting: true, flag: 'alpha', valueName: 'a',
    label: 'Alpha', help: 'lora_alpha: the update is scaled by alpha/r (alpha/√r with rsLoRA)',
  }),
  field('lora', 'dropout', {
    peft: 'lora_dropout', kind: 'number', default: 0.05, min: 0, exclusiveMax: 1, setting: true, flag: 'dropout', valueName: 'p',
    label: 'Dropout', help: "lora_dropout applied to the adapter's input during training",
  }),
  field('lora', 'targetModules', {
    peft: 'target_modules', kind: 'modules', whenUnset: "PEFT's default for the architecture", setting: true, flag: 'targets', valueName: 'names',
    label: 'Target modules', help: 'Modules to adapt by PEFT name (c_attn, q_proj, v_proj, …) or all-linear',
  }),
  field('lora', 'useRslora', {
    peft: 'use_rslora', kind: 'boolean', default: false, setting: true, flag: 'rslora',
    label: 'rsLoRA (scale alpha/√r)', help: 'Scale by alpha/√r (rank-stabilised LoRA)',
  }),
  field('lora', 'useDora', {
    peft: 'use_dora', kind: 'boolean', default: false, setting: true, flag: 'dora',
    label: 'DoRA (magnitude + direction)', help: "DoRA (PEFT's use_dora): a trained magnitude per output rescales the adapted weight's direction; adds out parameters per module and slower steps",
  }),
  field('lora', 'init', {
    peft: 'init_lora_weights', kind: 'enum', choices: LORA_INITS, choicePattern: { re: /^pissa_niter_\d+$/, text: 'pissa_niter_<N>' }, default: 'kaiming', setting: true, flag: 'init', valueName: 'kind',
    label: 'Initialisation',
    help: "How A and B start: kaiming (PEFT's init_lora_weights=True) and gaussian keep B at zero; pissa / pissa_niter_<N> (fast SVD, N iterations) / olora take A and B from W's SVD / QR and train on the residual base, the saved adapter converted to rank 2r for the original base",
  }),
  field('lora', 'layers', {
    peft: 'layers_to_transform', kind: 'layers', whenUnset: 'every layer', flag: 'layers', valueName: 'list',
    label: 'Layers', help: 'Layer indices to adapt, e.g. 0, 1, 8-11',
  }),
  field('lora', 'rankPattern', {
    peft: 'rank_pattern', kind: 'pattern', whenUnset: 'r for every module', flag: 'rank-pattern', valueName: 'key=r,…',
    label: 'Rank pattern', help: "Per-module r (PEFT's rank_pattern): each key a regex matched against the end of a module's name at a dot, e.g. h\\.0\\.attn\\.c_attn=16; the first matching key wins",
  }),
  field('lora', 'alphaPattern', {
    peft: 'alpha_pattern', kind: 'pattern', whenUnset: 'alpha for every module', flag: 'alpha-pattern', valueName: 'key=a,…',
    label: 'Alpha pattern', help: "Per-module lora_alpha (PEFT's alpha_pattern), keys matched as the rank pattern's",
  }),
  field('training', 'learningRate', {
    trainer: 'learning_rate', kind: 'number', default: 2e-4, exclusiveMin: 0, exclusiveMax: 1, setting: true, flag: 'lr', valueName: 'rate',
    label: 'Learning rate', help: 'Peak learning rate (AdamW), e.g. 2e-4',
  }),
  field('training', 'schedule', {
    trainer: 'lr_scheduler_type', kind: 'enum', choices: SCHEDULES, default: 'cosine', setting: true, flag: 'schedule', valueName: 'kind',
    label: 'Schedule', help: 'Learning-rate schedule after warmup',
  }),
  field('training', 'warmupRatio', {
    trainer: 'warmup_ratio', kind: 'number', default: 0.05, min: 0, exclusiveMax: 1, setting: true, flag: 'warmup-ratio', valueName: 'x',
    label: 'Warmup ratio', help: 'Fraction of the steps spent warming the learning rate up',
  }),
  field('training', 'warmupSteps', {
    trainer: 'warmup_steps', kind: 'integer', min: 0, whenUnset: 'warmupRatio of the steps', flag: 'warmup-steps', valueName: 'n',
    label: 'Warmup steps', help: 'Optimizer steps spent warming the learning rate up',
  }),
  field('training', 'epochs', {
    trainer: 'num_train_epochs', kind: 'integer', default: 3, min: 1, setting: true, flag: 'epochs', valueName: 'n',
    label: 'Epochs', help: 'Passes over the training data (ignored when maxSteps is set)',
  }),
  field('training', 'maxSteps', {
    trainer: 'max_steps', kind: 'integer', min: 1, whenUnset: 'train for the given epochs', setting: true, flag: 'max-steps', valueName: 'n',
    label: 'Max steps', help: 'Stop after this many optimizer steps',
  }),
  field('training', 'batchSize', {
    trainer: 'per_device_train_batch_size', kind: 'integer', default: 4, min: 1, setting: true, flag: 'batch', valueName: 'n',
    label: 'Batch size', help: 'Examples per micro-batch',
  }),
  field('training', 'gradientAccumulation', {
    trainer: 'gradient_accumulation_steps', kind: 'integer', default: 1, min: 1, setting: true, flag: 'grad-accum', valueName: 'n',
    label: 'Gradient accumulation', help: 'Micro-batches per optimizer step (effective batch = batchSize × this)',
  }),
  field('training', 'maxSeqLen', {
    trainer: 'max_seq_length', kind: 'integer', default: 256, min: 2, setting: true, flag: 'max-seq-len', valueName: 'n',
    label: 'Max sequence length', help: 'Tokens per example; longer examples are truncated, .txt files are cut into windows of this length',
  }),
  field('training', 'maxGradNorm', {
    trainer: 'max_grad_norm', kind: 'number', default: 1, min: 0, setting: true, flag: 'max-grad-norm', valueName: 'x',
    label: 'Max gradient norm', help: 'Global gradient-norm clipping; 0 disables it',
  }),
  field('training', 'weightDecay', {
    trainer: 'weight_decay', kind: 'number', default: 0, min: 0, setting: true, flag: 'weight-decay', valueName: 'x',
    label: 'Weight decay', help: 'AdamW decoupled weight decay',
  }),
  field('training', 'loraplusLrRatio', {
    trainer: 'loraplus_lr_ratio', kind: 'number', exclusiveMin: 0, whenUnset: 'plain LoRA, B learns at the learning rate', setting: true, flag: 'loraplus-lr-ratio', valueName: 'ratio',
    label: 'LoRA+ ratio (B rate ÷ A rate)', help: "LoRA+: every B matrix learns at the learning rate × this ratio, A at the learning rate (PEFT's create_loraplus_optimizer; the paper suggests 16)",
  }),
  field('training', 'beta1', {
    trainer: 'adam_beta1', kind: 'number', default: 0.9, min: 0, exclusiveMax: 1, flag: 'beta1', valueName: 'x',
    label: 'Adam β1', help: "AdamW's first-moment decay",
  }),
  field('training', 'beta2', {
    trainer: 'adam_beta2', kind: 'number', default: 0.999, min: 0, exclusiveMax: 1, flag: 'beta2', valueName: 'x',
    label: 'Adam β2', help: "AdamW's second-moment decay",
  }),
  field('training', 'eps', {
    trainer: 'adam_epsilon', kind: 'number', default: 1e-8, exclusiveMin: 0, flag: 'eps', valueName: 'x',
    label: 'Adam ε', help: "AdamW's epsilon",
  }),
  field('training', 'seed', {
    trainer: 'seed', kind: 'integer', default: 42, setting: true, flag: 'seed', valueName: 'n',
    label: 'Seed', help: 'Seed for adapter initialisation, data order, splits and dropout',
  }),
  field('training', 'reportEvery', {
    trainer: 'logging_steps', kind: 'integer', default: 1, min: 1, flag: 'report-every', valueName: 'steps',
    label: 'Report every (steps)', help: 'Log the training loss every N optimizer steps',
  }),
  field('training', 'evalEvery', {
    trainer: 'eval_steps', kind: 'integer', min: 1, whenUnset: 'about ten evaluations per run', setting: true, flag: 'eval-every', valueName: 'steps',
    label: 'Evaluate every (steps)', help: 'Evaluate every N steps',
  }),
  field('training', 'checkpointEvery', {
    trainer: 'save_steps', kind: 'integer', min: 1, whenUnset: 'with every evaluation', setting: true, flag: 'save-every', valueName: 'steps',
    label: 'Checkpoint every (steps)', help: 'Save a checkpoint every N steps',
  }),
  field('training', 'earlyStoppingPatience', {
    trainer: 'early_stopping_patience', kind: 'integer', default: 0, min: 0, setting: true, flag: 'patience', valueName: 'evals',
    label: 'Early-stopping patience', help: 'Stop after N evaluations without improvement; 0: never stop early',
  }),
  field('training', 'groupByLength', {
    trainer: 'group_by_length', kind: 'boolean', default: false, setting: true, flag: 'group-by-length',
    label: 'Group batches by length (less padding, faster epochs)',
    help: 'Batch examples of similar length together (the order is shuffled in groups of up to 50 batches, each sorted by length). Less padding, so epochs of mixed-length data train faster; the order is less random',
  }),
  field('training', 'baseDropout', {
    kind: 'boolean', default: true, setting: true, flag: 'no-base-dropout', flagTurnsOff: true,
    label: "Base model's dropout in training",
    help: "Apply the model's own dropout in training as PyTorch's model.train() does under PEFT and the HF Trainer (GPT-2 attn_pdrop, resid_pdrop, embd_pdrop; Llama, Mistral, Qwen2 attention_dropout); off: the frozen model runs as in evaluation. Models whose probabilities are 0 are unaffected",
  }),
  field('dataOptions', 'validationFraction', {
    kind: 'number', default: 0.1, exclusiveMin: 0, exclusiveMax: 1, setting: true, flag: 'valid-fraction', valueName: 'x',
    label: 'Validation fraction', help: 'Share of the examples held out for validation when there is no validation file (valid.jsonl / val.jsonl beside the data)',
  }),
  field('dataOptions', 'badRows', {
    kind: 'enum', choices: BAD_ROW_POLICIES, default: 'fail', setting: true, flag: 'on-bad-rows', valueName: 'policy',
    label: 'Bad rows', help: 'What to do with malformed rows: stop and list them, or skip them and report',
  }),
  field('dataOptions', 'maxRowBytes', {
    kind: 'integer', default: 8 * 1024 * 1024, min: 1, setting: true, flag: 'max-row-bytes', valueName: 'bytes',
    label: 'Max row size (bytes)', help: 'Largest dataset row in bytes (a JSON Lines line, .json element, CSV record or .txt line); a longer one stops the run before tokenizing',
  }),
  field('dataOptions', 'textColumn', {
    kind: 'string', whenUnset: 'detected from the file', flag: 'text-column', valueName: 'name',
    label: 'Text column', help: 'Column holding plain text to train on',
  }),
  field('dataOptions', 'promptColumn', {
    kind: 'string', whenUnset: 'detected from the file', flag: 'prompt-column', valueName: 'name',
    label: 'Prompt column', help: 'Column holding the prompt (no loss on it)',
  }),
  field('dataOptions', 'completionColumn', {
    kind: 'string', whenUnset: 'detected from the file', flag: 'completion-column', valueName: 'name',
    label: 'Completion column', help: 'Column holding the completion (the loss is taken on it)',
  }),
  field('run', 'backend', {
    kind: 'enum', choices: BACKEND_CHOICES, default: 'auto', setting: true, flag: 'backend', valueName: 'name',
    choiceHelp: [
      'The fastest that loads: tfjs-node-gpu (with an NVIDIA driver), then tfjs-node, then wasm, then cpu',
      '@tensorflow/tfjs-node-gpu: NVIDIA GPU; TensorFlow 2.21 with CUDA 12 / cuDNN 9 from PyPI (Set Up Native Backend…), or the classic package with CUDA 11',
      '@tensorflow/tfjs-node: native TensorFlow on the CPU (Set Up Native Backend…: TensorFlow 2.21 from PyPI)',
      'WebAssembly (always installed; multi-threaded where possible; 4 GiB heap)',
      'Pure JavaScript (slow; last resort)',
    ],
    label: 'Backend', help: 'TensorFlow.js backend of the training worker',
  }),
  field('run', 'threads', {
    kind: 'integer', min: 1, whenUnset: 'one per core', flag: 'threads', valueName: 'n',
    label: 'Threads', help: 'CPU threads of the backend: wasm, or native TensorFlow (TF_NUM_INTRAOP_THREADS)',
  }),
  field('run', 'memoryLimitBytes', {
    kind: 'integer', min: 1, whenUnset: "the backend's safe limit; wasm 2.5 GB", flag: 'memory-limit-mb', valueName: 'MiB', flagUnit: { name: 'MiB', factor: 1024 * 1024 },
    label: 'Memory limit', help: 'Stop before tensors pass this size',
  }),
];

/**
 * Old run.json keys → today's, so runs written by earlier versions still resume, evaluate and
 * show: `lora.targets` was renamed to PEFT's target_modules, `training.lr` / `gradAccum` /
 * `patience` and `dataOptions.policy` / `validFraction` to the names their settings always had.
 */
export const RUN_CONFIG_ALIASES: Readonly<Record<string, string>> = {
  'lora.targets': 'lora.targetModules',
  'training.lr': 'training.learningRate',
  'training.gradAccum': 'training.gradientAccumulation',
  'training.patience': 'training.earlyStoppingPatience',
  'dataOptions.policy': 'dataOptions.badRows',
  'dataOptions.validFraction': 'dataOptions.validationFraction',
};

/** Settings of the extension that are not run-config fields (paths and panel behaviour). */
export const NON_RUN_SETTINGS = ['loraLab.modelPath', 'loraLab.runsFolder', 'loraLab.openPanelOnStart', 'loraLab.lint.enabled', 'loraLab.evalCases'] as const;

/** The field's place in a RunConfig: `training.learningRate`, `backend`. */
export function fieldPath(f: RunField): string {
  return f.group === 'run' ? f.key : `${f.group}.${f.key}`;
}

/** `loraLab.training.learningRate`; the data group's section is `data` (RunConfig's `data` is the dataset file). */
export function settingKey(f: RunField): string {
  const section = f.group === 'run' ? '' : f.group === 'dataOptions' ? 'data.' : `${f.group}.`;
  return `loraLab.${section}${f.key}`;
}

/** The row of `group.key`; throws on a typo so callers can rely on it. */
export function runField<G extends FieldGroup>(group: G, key: FieldKey<G>): RunField {
  const f = RUN_FIELDS.find((x) => x.group === group && x.key === key);
  if (!f) throw new Error(`no run-config field ${group}.${key}`);
  return f;
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The field's value in a config or input (undefined when absent). */
export function getField(c: RunConfigInput | RunConfig, f: RunField): unknown {
  const o = (f.group === 'run' ? c : (c as Obj)[f.group]) as Obj | undefined;
  return o?.[f.key];
}

/** Sets the field in `c`, creating its group. */
export function setField(c: RunConfigInput, f: RunField, v: unknown): void {
  const root = c as Obj;
  if (f.group === 'run') {
    root[f.key] = v;
    return;
  }
  if (!isObj(root[f.group])) root[f.group] = {};
  (root[f.group] as Obj)[f.key] = v;
}

/** The defaults of a group, for fields that have one. */
export function fieldDefaults(group: FieldGroup): Record<string, FieldValue> {
  return Object.fromEntries(RUN_FIELDS.filter((f) => f.group === group && f.default !== undefined).map((f) => [f.key, f.default!]));
}

const fmt = (n: number) => String(n);

/** What a valid value is, in words: "a whole number ≥ 1", "a number in [0, 1)", "one of constant, linear, cosine". */
export function fieldRule(f: RunField): string {
  switch (f.kind) {
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${f.choices!.join(', ')}${f.choicePattern ? `, ${f.choicePattern.text}` : ''}`;
    case 'string':
      return 'a text';
    case 'modules':
      return `a list of module names, ${ALL_LINEAR}, or a regular expression`;
    case 'layers':
      return 'a list of layer indices ≥ 0';
    case 'pattern':
      return `a list of regex=${f.peft === 'rank_pattern' ? 'rank (a whole number ≥ 1)' : 'number'} entries`;
    default:
      break;
  }
  const what = f.kind === 'integer' ? 'a whole number' : 'a number';
  const lo = f.min ?? f.exclusiveMin;
  const hi = f.max ?? f.exclusiveMax;
  if (lo !== undefined && hi !== undefined) {
    return `${what} in ${f.min !== undefined ? '[' : '('}${fmt(lo)}, ${fmt(hi)}${f.max !== undefined ? ']' : ')'}`;
  }
  if (lo !== undefined) return `${what} ${f.min !== undefined ? '≥' : '>'} ${fmt(lo)}`;
  if (hi !== undefined) return `${what} ${f.max !== undefined ? '≤' : '<'} ${fmt(hi)}`;
  return what;
}

/** True when `v` passes the field's check (undefined is for the caller to judge). */
export function fieldAccepts(f: RunField, v: unknown): boolean {
  switch (f.kind) {
    case 'boolean':
      return typeof v === 'boolean';
    case 'enum':
      return typeof v === 'string' && (f.choices!.includes(v) || (f.choicePattern?.re.test(v) ?? false));
    case 'string':
      return typeof v === 'string';
    case 'modules':
      return (typeof v === 'string' && v !== '') || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x !== ''));
    case 'layers':
      return Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0);
    case 'pattern':
      return Array.isArray(v) && v.every((x) => typeof x === 'string' && patternEntryValue(x, f.peft === 'rank_pattern') !== undefined);
    default:
      break;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (f.kind === 'integer' && !Number.isInteger(v)) return false;
  if (f.min !== undefined && v < f.min) return false;
  if (f.max !== undefined && v > f.max) return false;
  if (f.exclusiveMin !== undefined && v <= f.exclusiveMin) return false;
  if (f.exclusiveMax !== undefined && v >= f.exclusiveMax) return false;
  return true;
}

/** "training.learningRate must be a number in (0, 1), got 5", or undefined when the value is fine or unset. */
export function fieldProblem(f: RunField, v: unknown, name = fieldPath(f)): string | undefined {
  if (v === undefined || fieldAccepts(f, v)) return undefined;
  return `${name} must be ${fieldRule(f)}, got ${JSON.stringify(v)}`;
}

/** Every problem of a config, one message per bad field, in table order. */
export function runConfigProblems(c: RunConfigInput | RunConfig): string[] {
  const out: string[] = [];
  for (const f of RUN_FIELDS) {
    const p = fieldProblem(f, getField(c, f));
    if (p) out.push(p);
  }
  return out;
}

/**
 * A run config as an older version wrote it, with its keys renamed by RUN_CONFIG_ALIASES (the
 * new key wins when both are present). Returns a copy; anything that is not an object is kept.
 */
export function upgradeRunConfigKeys<T>(raw: T): T {
  if (!isObj(raw)) return raw;
  const out: Obj = { ...raw };
  for (const g of ['lora', 'training', 'dataOptions']) if (isObj(out[g])) out[g] = { ...(out[g] as Obj) };
  for (const [from, to] of Object.entries(RUN_CONFIG_ALIASES)) {
    const [g, oldKey] = from.split('.');
    const newKey = to.split('.')[1];
    const group = out[g];
    if (!isObj(group) || !(oldKey in group)) continue;
    if (group[newKey] === undefined) group[newKey] = group[oldKey];
    delete group[oldKey];
  }
  return out as T;
}

/**
 * The table's part of a config: each group with the table's defaults under the given values
 * (keys the table does not know are dropped), and the top-level fields. Old keys must be
 * renamed first (upgradeRunConfigKeys).
 */
export function withFieldDefaults(input: RunConfigInput): Pick<RunConfig, 'lora' | 'training' | 'dataOptions' | 'backend' | 'threads' | 'memoryLimitBytes'> {
  const out: RunConfigInput = { lora: {}, training: {}, dataOptions: {} };
  for (const f of RUN_FIELDS) {
    const v = getField(input, f) ?? f.default;
    if (v !== undefined || f.group !== 'run') setField(out, f, v);
  }
  // Unset optional fields stay absent, as JSON would have them.
  for (const g of ['lora', 'training', 'dataOptions'] as const) {
    const o = out[g] as Obj;
    for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  }
  return out as ReturnType<typeof withFieldDefaults>;
}

/**
 * run.json's `config` as a RunConfig, or the reason it is not one: old keys renamed, missing
 * fields given the table's defaults, every field checked. For readers that only show a run (the
 * panel); running one goes through core/runConfig.ts's resolveRunConfig, which also resolves paths.
 */
export function decodeRunConfig(raw: unknown): { ok: true; value: RunConfig } | { ok: false; error: string } {
  if (!isObj(raw)) return { ok: false, error: 'the run config is not a JSON object' };
  const c = upgradeRunConfigKeys(raw);
  for (const k of ['model', 'data', 'workspace', 'runsDir'] as const) {
    if (typeof c[k] !== 'string') return { ok: false, error: `"${k}" is ${JSON.stringify(c[k]) ?? 'missing'}, expected a path` };
  }
  for (const k of ['valid', 'evals', 'initAdapter', 'name'] as const) {
    if (c[k] !== undefined && typeof c[k] !== 'string') return { ok: false, error: `"${k}" is ${JSON.stringify(c[k])}, expected a string` };
  }
  for (const g of ['lora', 'training', 'dataOptions'] as const) {
    if (c[g] !== undefined && !isObj(c[g])) return { ok: false, error: `"${g}" is ${JSON.stringify(c[g])}, expected an object` };
  }
  const input = c as RunConfigInput;
  const value: RunConfig = {
    model: input.model!, data: input.data!, workspace: input.workspace!, runsDir: input.runsDir!,
    ...(input.valid !== undefined && { valid: input.valid }),
    ...(input.evals !== undefined && { evals: input.evals }),
    ...(input.initAdapter !== undefined && { initAdapter: input.initAdapter }),
    ...(input.name !== undefined && { name: input.name }),
    ...withFieldDefaults(input),
  };
  const problems = runConfigProblems(value);
  return problems.length ? { ok: false, error: problems.join('; ') } : { ok: true, value };
}

/**
 * One `regex=number` entry of a rank/alpha pattern: the number, or undefined when the entry is not
 * one (no `=`, a key that is not a regular expression, a rank that is not a whole number ≥ 1).
 */
export function patternEntryValue(entry: string, rank: boolean): number | undefined {
  const i = entry.lastIndexOf('=');
  const key = entry.slice(0, i).trim();
  const v = Number(entry.slice(i + 1));
  if (i <= 0 || key === '' || entry.slice(i + 1).trim() === '' || !Number.isFinite(v) || (rank ? !Number.isInteger(v) || v < 1 : v <= 0)) return undefined;
  try {
    new RegExp(key);
  } catch {
    return undefined;
  }
  return v;
}

/** `pattern=number` entries as PEFT's rank_pattern / alpha_pattern dict, in their order; undefined when empty. */
export function patternRecord(entries: readonly string[] | undefined): Record<string, number> | undefined {
  if (!entries || entries.length === 0) return undefined;
  return Object.fromEntries(entries.map((e) => [e.slice(0, e.lastIndexOf('=')).trim(), Number(e.slice(e.lastIndexOf('=') + 1))]));
}

/** Layer indices from "0, 1, 4-6" (duplicates dropped, order kept); a string is an error message. */
export function parseLayerList(s: string, numLayers = Infinity): number[] | undefined | string {
  if (s.trim() === '') return undefined;
  const out: number[] = [];
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) return `"${part}" is not a layer index or range (e.g. 0, 1, 4-6)`;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) return `range ${part} runs backwards`;
    if (b >= numLayers) return `layer ${b} does not exist: the model has layers 0–${numLayers - 1}`;
    for (let i = a; i <= b; i++) if (!out.includes(i)) out.push(i);
  }
  return out.length ? out : undefined;
}

/** Module names from "q_proj, v_proj"; a lone all-linear stays PEFT's string form. */
export function parseModuleList(s: string): string[] | typeof ALL_LINEAR | undefined {
  const items = s.split(',').map((x) => x.trim()).filter(Boolean);
  if (items.length === 0) return undefined;
  return items.includes(ALL_LINEAR) ? ALL_LINEAR : items;
}

/**
 * A field's value from text (a CLI flag, a form box): undefined for blank, a string for an error
 * in words ("must be a whole number ≥ 1"), else `{ value }` checked against the field.
 */
export function parseFieldText(f: RunField, text: string): { value: FieldValue } | string | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const bad = `must be ${fieldRule(f)}`;
  let v: FieldValue;
  switch (f.kind) {
    case 'boolean':
      if (t !== 'true' && t !== 'false') return bad;
      v = t === 'true';
      break;
    case 'enum':
    case 'string':
      v = t;
      break;
    case 'modules':
      v = parseModuleList(t)!;
      break;
    case 'layers': {
      const l = parseLayerList(t);
      if (typeof l === 'string') return l;
      v = l!;
      break;
    }
    case 'pattern':
      v = t.split(',').map((e) => e.trim()).filter((e) => e !== '');
      break;
    default:
      v = Number(t);
  }
  return fieldAccepts(f, v) ? { value: v } : bad;
}

/** The field's text for a form box or --help: its default, or '' when unset by default. */
export function fieldText(v: unknown): string {
  if (v === undefined || v === null) return '';
  return Array.isArray(v) ? v.join(', ') : String(v);
}

// ---- VS Code settings: the contributes.configuration entry of each field ----

/** Settings whose "unset" is a value (0 steps, an empty list) because VS Code settings have no undefined. */
export function settingUnsetValue(f: RunField): 0 | [] | undefined {
  if (f.default !== undefined || !f.setting) return undefined;
  return f.kind === 'modules' ? [] : 0;
}

/** The package.json schema of a field's setting; package.json must equal it (test/unit/runConfigSchema.test.ts). */
export function settingSchema(f: RunField): Record<string, unknown> {
  const unset = settingUnsetValue(f);
  const s: Record<string, unknown> = {};
  s.type = f.kind === 'enum' || f.kind === 'string' ? 'string' : f.kind === 'modules' || f.kind === 'layers' ? 'array' : f.kind;
  if (f.kind === 'modules') s.items = { type: 'string' };
  if (f.kind === 'layers') s.items = { type: 'integer', minimum: 0 };
  if (f.choices) s.enum = [...f.choices];
  if (f.choiceHelp) s.enumDescriptions = [...f.choiceHelp];
  s.default = unset ?? f.default;
  if (unset === 0) s.minimum = 0;
  else {
    if (f.min !== undefined) s.minimum = f.min;
    if (f.max !== undefined) s.maximum = f.max;
    if (f.exclusiveMin !== undefined) s.exclusiveMinimum = f.exclusiveMin;
    if (f.exclusiveMax !== undefined) s.exclusiveMaximum = f.exclusiveMax;
  }
  const text = unset === undefined ? `${f.help}.` : `${f.help}; ${unset === 0 ? '0' : 'empty'}: ${f.whenUnset}.`;
  s.description = text;
  return s;
}

/** The setting's value as a RunConfig value: 0 steps and an empty list mean unset. */
export function fromSettingValue(f: RunField, v: unknown): unknown {
  const unset = settingUnsetValue(f);
  if (unset === 0 && v === 0) return undefined;
  if (f.kind === 'modules' && Array.isArray(v)) return v.length === 0 ? undefined : v.includes(ALL_LINEAR) ? ALL_LINEAR : v;
  return v;
}

// ---- CLI: the flag's --help line ----

/** `lora-lab train --help` text of a field's flag, and the default it prints. */
export function flagHelp(f: RunField): { description: string; default: string } {
  const description = f.kind === 'enum' ? `${f.help}; ${fieldRule(f)}` : f.flagUnit ? `${f.help}, in ${f.flagUnit.name}` : f.help;
  if (f.flagTurnsOff) return { description: `Turn off: ${description}`, default: 'on' };
  return { description, default: f.default !== undefined ? fieldText(f.default) : f.whenUnset! };
}

/** The form's hint under a field. */
export function formHelp(f: RunField): string {
  return f.whenUnset ? `${f.help}; blank: ${f.whenUnset}.` : `${f.help}.`;
}
