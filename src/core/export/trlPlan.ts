// A run's configuration in TRL's terms: PEFT LoraConfig and TRL SFTConfig keyword arguments,
// named by the run-config table (src/protocol/runConfig.ts RUN_FIELDS: `peft` and `trainer`),
// with the values LoRA Lab resolves at run time written out (total steps, warm-up steps,
// evaluation and checkpoint cadence) so both engines follow the same schedule. Also the
// effective-batch split for every world size that can keep it: the one table train.py reads
// (BATCH_SPLITS), so the rule lives here only. Pure: no files, no tensors.
import { ALL_LINEAR, patternRecord, RUN_FIELDS, type RunConfig, type RunField } from '../../protocol/runConfig';

/** A value as train.py writes it (rendered by pyLiteral). */
export type PyValue = number | string | boolean | null | PyValue[] | { [key: string]: PyValue };

/**
 * Where a LoRA Lab field goes in the pinned TRL/transformers (requirements.txt) when the table's
 * name is no longer an argument there, or the value is resolved here first. Every other field
 * with a `peft` or `trainer` name keeps it.
 */
export const TRL_RENAMES: Readonly<Record<string, { to: string; why: string }>> = {
  'training.warmupRatio': { to: 'warmup_steps', why: 'resolved to whole steps as LoRA Lab does (floor(ratio × total)); transformers 5 has no warmup_ratio' },
  'training.warmupSteps': { to: 'warmup_steps', why: 'as given' },
  'training.maxSeqLen': { to: 'max_length', why: "TRL SFTConfig's name (max_seq_length before TRL 0.20); the data is already truncated to it" },
  'training.epochs': { to: 'num_train_epochs', why: 'informative: max_steps is always written (the resolved total)' },
  'training.maxSteps': { to: 'max_steps', why: 'the total LoRA Lab resolves: maxSteps, else epochs × steps per epoch' },
  'training.batchSize': { to: 'per_device_train_batch_size', why: "looked up at run time by WORLD_SIZE in train.py's BATCH_SPLITS (written by the export) so that micro-batch × accumulation × world size = the effective batch" },
  'training.gradientAccumulation': { to: 'gradient_accumulation_steps', why: 'looked up at run time, as per_device_train_batch_size' },
  'training.evalEvery': { to: 'eval_steps', why: 'resolved: about ten evaluations per run when unset' },
  'training.checkpointEvery': { to: 'save_steps', why: 'resolved: with every evaluation when unset' },
  'training.groupByLength': { to: 'train_sampling_strategy', why: 'transformers 5 replaced group_by_length with train_sampling_strategy="group_by_length"' },
  'training.earlyStoppingPatience': { to: 'early_stopping_patience', why: "EarlyStoppingCallback's argument (with load_best_model_at_end), not SFTConfig's" },
  'training.loraplusLrRatio': {
    to: 'create_loraplus_optimizer(loraplus_lr_ratio)',
    why: "PEFT's LoRA+ optimizer (groups: A at lr, B at lr × ratio, both with the run's weight decay as loraplus_weight_decay), built by train.py's create_optimizer over the Trainer's own AdamW class and arguments; not an SFTConfig argument",
  },
  'lora.init': { to: 'init_lora_weights', why: 'kaiming → True (PEFT default); gaussian, pissa, pissa_niter_N, olora by name (the last three saved converted, as LoRA Lab saves them)' },
};

export interface TrlPlan {
  /** PEFT LoraConfig(**lora). */
  lora: Record<string, PyValue>;
  /** TRL SFTConfig(**sft), less the batch split (train.py looks it up in batchSplits by WORLD_SIZE). */
  sft: Record<string, PyValue>;
  /** Examples per optimizer step in the local run: batchSize × gradientAccumulation. */
  effectiveBatch: number;
  /** The local run's micro-batch: the largest per-device batch train.py uses. */
  localMicroBatch: number;
  /**
   * For every world size that divides the effective batch (ascending): the per-device micro-batch
   * and accumulation (microBatchPlan). train.py reads this table by WORLD_SIZE and refuses a world
   * size not in it; it computes no split of its own.
   */
  batchSplits: BatchSplit[];
  totalSteps: number;
  /** Explicit warm-up steps, or undefined when they follow warmupRatio × the total (so --max-steps rescales them). */
  warmupSteps?: number;
  warmupRatio: number;
  /** LoRA Lab's schedule kind (train.py's LambdaLR follows it). */
  schedule: RunConfig['training']['schedule'];
  earlyStoppingPatience: number;
  /** LoRA+ ratio (train.py builds PEFT's create_loraplus_optimizer with it); undefined: the Trainer's own AdamW. */
  loraplusLrRatio?: number;
  /** The model's own dropout in training; false: train.py loads the model with its dropout probabilities at 0. */
  baseDropout: boolean;
  /** One line per field: LoRA Lab name → TRL/PEFT argument = value (the README's table). */
  mapping: { field: string; to: string; value: PyValue; note?: string }[];
}

/** One row of the batch table: `world` processes, each `micro` examples per forward pass, `accumulation` passes per step. */
export interface BatchSplit {
  world: number;
  micro: number;
  accumulation: number;
}

/** The trainer's steps per epoch (src/core/train/trainer.ts stepsPerEpoch): last partial micro-batch and step kept. */
export function stepsPerEpoch(examples: number, batchSize: number, gradAccum: number): number {
  return Math.ceil(Math.ceil(examples / batchSize) / gradAccum);
}

/**
 * Per-device micro-batch and accumulation for `world` processes such that
 * micro × accumulation × world = effective: the largest micro-batch that divides the per-process
 * share and is no larger than the local run's (which is known to fit). Undefined when the world
 * does not divide the effective batch (train.py refuses such a world and names the ones that fit).
 */
export function microBatchPlan(effective: number, localMicro: number, world: number): { micro: number; accumulation: number } | undefined {
  if (!(world >= 1) || effective % world !== 0) return undefined;
  const share = effective / world;
  let micro = 1;
  for (let d = Math.min(localMicro, share); d >= 1; d--) {
    if (share % d === 0) {
      micro = d;
      break;
    }
  }
  return { micro, accumulation: share / micro };
}

/** World sizes that split an effective batch exactly (its divisors, ascending). */
export function validWorldSizes(effective: number): number[] {
  const low: number[] = [];
  const high: number[] = [];
  for (let d = 1; d * d <= effective; d++) {
    if (effective % d !== 0) continue;
    low.push(d);
    if (d * d !== effective) high.unshift(effective / d);
  }
  return [...low, ...high];
}

/** The batch table train.py reads: microBatchPlan for every world size that divides the effective batch. */
export function batchSplits(effective: number, localMicro: number): BatchSplit[] {
  return validWorldSizes(effective).map((world) => ({ world, ...microBatchPlan(effective, localMicro, world)! }));
}

function fieldName(f: RunField): string {
  return `${f.group}.${f.key}`;
}

function get(c: RunConfig, f: RunField): unknown {
  const g = f.group === 'run' ? (c as unknown as Record<string, unknown>) : (c[f.group] as unknown as Record<string, unknown>);
  return g[f.key];
}

/** The plan for `config` trained on `trainExamples` examples (the count after the validation split). */
export function trlPlan(config: RunConfig, trainExamples: number): TrlPlan {
  const t = config.training;
  const l = config.lora;
  const totalSteps = t.maxSteps ?? t.epochs * stepsPerEpoch(trainExamples, t.batchSize, t.gradientAccumulation);
  const warmup = t.warmupSteps ?? Math.floor(t.warmupRatio * totalSteps);
  const evalEvery = t.evalEvery ?? Math.max(1, Math.round(totalSteps / 10));
  const lora: Record<string, PyValue> = {};
  const sft: Record<string, PyValue> = {};
  const mapping: TrlPlan['mapping'] = [];
  const put = (dest: Record<string, PyValue>, field: string, to: string, value: PyValue, note?: string) => {
    dest[to] = value;
    mapping.push({ field, to, value, note });
  };

  for (const f of RUN_FIELDS) {
    const name = fieldName(f);
    const v = get(config, f);
    const rename = TRL_RENAMES[name];
    if (f.peft) {
      if (name === 'lora.targetModules') put(lora, name, f.peft, v === undefined ? null : v === ALL_LINEAR ? ALL_LINEAR : (v as string[]), v === undefined ? "PEFT's default for the architecture, as LoRA Lab's" : undefined);
      else if (name === 'lora.init') put(lora, name, rename!.to, l.init === 'kaiming' ? true : l.init, rename!.why);
      else if (name === 'lora.layers') put(lora, name, f.peft, l.layers ?? null, l.layers ? undefined : 'every layer');
      else if (f.kind === 'pattern') put(lora, name, f.peft, patternRecord(v as string[] | undefined) ?? {}, v === undefined ? 'unset: one r and lora_alpha everywhere' : 'the entries as a dict, in order');
      else put(lora, name, f.peft, v as PyValue);
      continue;
    }
    if (!f.trainer) continue;
    switch (name) {
      case 'training.warmupRatio':
        if (t.warmupSteps === undefined) put(sft, name, 'warmup_steps', warmup, rename!.why);
        break;
      case 'training.warmupSteps':
        if (t.warmupSteps !== undefined) put(sft, name, 'warmup_steps', t.warmupSteps);
        break;
      case 'training.maxSteps':
        put(sft, name, 'max_steps', totalSteps, rename!.why);
        break;
      case 'training.batchSize':
      case 'training.gradientAccumulation':
        mapping.push({ field: name, to: rename!.to, value: v as number, note: rename!.why });
        break;
      case 'training.evalEvery':
        put(sft, name, 'eval_steps', evalEvery, t.evalEvery === undefined ? rename!.why : undefined);
        break;
      case 'training.checkpointEvery':
        put(sft, name, 'save_steps', t.checkpointEvery ?? evalEvery, t.checkpointEvery === undefined ? rename!.why : undefined);
        break;
      case 'training.schedule':
        // HF's "constant" has no warm-up; train.py's scheduler is LoRA Lab's own formula either way.
        put(sft, name, f.trainer, t.schedule === 'constant' ? 'constant_with_warmup' : t.schedule, "documents the shape; train.py's LambdaLR reproduces LoRA Lab's warm-up ((step+1)/warmup) exactly");
        break;
      case 'training.groupByLength':
        put(sft, name, 'train_sampling_strategy', t.groupByLength ? 'group_by_length' : 'random', rename!.why);
        break;
      case 'training.loraplusLrRatio':
        mapping.push({ field: name, to: rename!.to, value: t.loraplusLrRatio ?? null, note: t.loraplusLrRatio === undefined ? "unset: the Trainer's own AdamW, one rate" : rename!.why });
        break;
      case 'training.earlyStoppingPatience':
        mapping.push({ field: name, to: 'early_stopping_patience', value: t.earlyStoppingPatience, note: rename!.why });
        break;
      default:
        put(sft, name, rename?.to ?? f.trainer, v as PyValue, rename?.why);
    }
  }
  mapping.push({
    field: 'training.baseDropout', to: 'the model config\'s attn_pdrop/embd_pdrop/resid_pdrop or attention_dropout', value: t.baseDropout,
    note: t.baseDropout ? "on: the Trainer's model.train() applies them" : 'off: train.py loads the model with them set to 0',
  });
  // What LoRA Lab fixes without a field: AdamW, data seed = seed, one evaluation/save cadence.
  sft.optim = 'adamw_torch';
  // LoRA Lab trains in float32; TRL's configs default to bf16.
  sft.bf16 = false;
  sft.fp16 = false;
  sft.data_seed = t.seed;
  sft.eval_strategy = 'steps';
  sft.save_strategy = 'steps';
  return {
    lora, sft, effectiveBatch: t.batchSize * t.gradientAccumulation, localMicroBatch: t.batchSize,
    batchSplits: batchSplits(t.batchSize * t.gradientAccumulation, t.batchSize), totalSteps,
    warmupSteps: t.warmupSteps, warmupRatio: t.warmupRatio, schedule: t.schedule, earlyStoppingPatience: t.earlyStoppingPatience,
    ...(t.loraplusLrRatio !== undefined && { loraplusLrRatio: t.loraplusLrRatio }), baseDropout: t.baseDropout, mapping,
  };
}

/** A JSON-like value as a Python literal (True/False/None; strings JSON-quoted, which Python reads). */
export function pyLiteral(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot write ${v} into train.py`);
    return Number.isInteger(v) ? String(v) : String(v).replace(/^(-?)\./, '$10.');
  }
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pyLiteral).join(', ')}]`;
  return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyLiteral(x)}`).join(', ')}}`;
}

/** `dict(key=value, ...)` over several lines, for train.py. */
export function pyDict(d: Record<string, PyValue>, indent = '    '): string {
  const lines = Object.entries(d).map(([k, v]) => `${indent}${k}=${pyLiteral(v)},`);
  return `dict(\n${lines.join('\n')}\n)`;
}
