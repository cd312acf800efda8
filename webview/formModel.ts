// The configuration form as data: the editable draft (strings, so a half-typed "2e-" stays on
// screen), its validation with messages per field, the RunConfigInput it starts, and the live
// LoRA parameter preview (PEFT's count plus r·(in+out) vs in·out per module kind). Pure. Labels,
// defaults and checks come from the run-config table (src/protocol/runConfig.ts).
import type { FormState, RunParameters } from '../src/protocol/panel';
import {
  ALL_LINEAR, fieldRule, fieldText, getField, parseFieldText, parseLayerList, patternRecord, RUN_FIELDS, runField, setField, type RunField,
} from '../src/protocol/runConfig';
import { countParameters, decompProblem, moduleLora, rankProblem, selectTargets, type LoraConfig, type ParameterCounts } from '../src/core/lora/config';
import type { ModelSpec } from '../src/core/hf/config';

export { ALL_LINEAR };
export const SCHEDULES = runField('training', 'schedule').choices!;
export const BACKENDS = runField('run', 'backend').choices!;
export const LORA_INITS = runField('lora', 'init').choices!;
/** PEFT's fast PiSSA with the iteration counts its documentation uses; other N stay reachable through settings and the CLI. */
const PISSA_NITERS = ['pissa_niter_4', 'pissa_niter_16'];

/** The Initialisation menu: the table's choices with the fast PiSSA variants after pissa, and the current value when it is another pissa_niter_N. */
export function initOptions(current: string): string[] {
  const out = LORA_INITS.flatMap((c) => (c === 'pissa' ? [c, ...PISSA_NITERS] : [c]));
  return out.includes(current) || !/^pissa_niter_\d+$/.test(current) ? out : [...out, current];
}

/** The draft's keys are the run-config fields' keys (protocol/runConfig.ts), plus the epochs/max-steps switch. */
export interface FormDraft {
  r: string;
  alpha: string;
  dropout: string;
  targetModules: string[];
  useRslora: boolean;
  /** DoRA (PEFT's use_dora): a trained magnitude per output on top of A and B. */
  useDora: boolean;
  /** How A and B start: one of the table's init choices, or pissa_niter_<N>. */
  init: string;
  /** Comma-separated layer indices; blank = every layer. */
  layers: string;
  /** PEFT's rank_pattern as `regex=r` entries, comma-separated; blank = r for every module. */
  rankPattern: string;
  /** PEFT's alpha_pattern as `regex=alpha` entries; blank = alpha for every module. */
  alphaPattern: string;
  learningRate: string;
  /** LoRA+: B's learning rate ÷ A's; blank = plain LoRA. */
  loraplusLrRatio: string;
  schedule: string;
  lengthMode: 'epochs' | 'maxSteps';
  epochs: string;
  maxSteps: string;
  batchSize: string;
  gradientAccumulation: string;
  maxSeqLen: string;
  groupByLength: boolean;
  /** The base model's own dropout in training (as model.train() under PEFT and the HF Trainer). */
  baseDropout: boolean;
  /** Blank = automatic (about ten evaluations per run). */
  evalEvery: string;
  /** Blank = with every evaluation. */
  checkpointEvery: string;
  seed: string;
  backend: string;
}

export type DraftField = keyof FormDraft;
export type FieldErrors = Partial<Record<DraftField, string>>;

/** The draft's text fields (boxes and single selects), each a row of the run-config table. */
export const TEXT_FIELDS = ['r', 'alpha', 'dropout', 'init', 'layers', 'rankPattern', 'alphaPattern', 'learningRate', 'loraplusLrRatio', 'schedule', 'epochs', 'maxSteps', 'batchSize', 'gradientAccumulation', 'maxSeqLen', 'evalEvery', 'checkpointEvery', 'seed', 'backend'] as const;
const BOOL_FIELDS = ['useRslora', 'useDora', 'groupByLength', 'baseDropout'] as const;

/** The table row behind a draft field (undefined for the form-only lengthMode). */
export function formField(k: DraftField): RunField | undefined {
  return RUN_FIELDS.find((f) => f.key === k);
}

/** The draft a fresh form starts from: the host's prefilled values, else the table's defaults. */
export function draftFromForm(form: FormState): FormDraft {
  const init = form.initial;
  const value = (k: DraftField) => {
    const f = formField(k)!;
    return getField(init, f) ?? f.default;
  };
  const t = init.lora?.targetModules;
  const targets = t === ALL_LINEAR ? [ALL_LINEAR] : Array.isArray(t) && t.length ? t : form.defaultTargets;
  const draft = { targetModules: [...targets], lengthMode: init.training?.maxSteps !== undefined ? 'maxSteps' : 'epochs' } as FormDraft;
  for (const k of TEXT_FIELDS) (draft as unknown as Record<string, string>)[k] = fieldText(value(k));
  for (const k of BOOL_FIELDS) draft[k] = value(k) === true;
  return draft;
}

/**
 * A new FormState (another model or dataset picked) keeps what the user typed; only targets the
 * new architecture lacks are reset to its defaults.
 */
export function mergeDraft(prev: FormDraft | undefined, form: FormState): FormDraft {
  const fresh = draftFromForm(form);
  if (!prev) return fresh;
  const valid = prev.targetModules.length > 0 && prev.targetModules.every((t) => t === ALL_LINEAR || form.moduleChoices.includes(t));
  return { ...prev, targetModules: valid ? prev.targetModules : fresh.targetModules };
}

/** Layer indices from "0, 1, 4-6"; a string is an error message. */
export function parseLayers(s: string, numLayers: number): number[] | undefined | string {
  return parseLayerList(s, numLayers);
}

export function targetsOf(draft: Pick<FormDraft, 'targetModules'>): string[] | typeof ALL_LINEAR {
  return draft.targetModules.includes(ALL_LINEAR) ? ALL_LINEAR : draft.targetModules;
}

export interface Validation {
  errors: FieldErrors;
  /**
   * Present when the draft is valid: what startTraining sends, the hyper-parameters only. The
   * dataset, model, workspace and runs folder are the ones the host picked (startConfig).
   */
  config?: RunParameters;
}

/** Checks each field with the run-config table's check (as the engine will), the message next to the field. */
export function validateDraft(draft: FormDraft, form: FormState): Validation {
  const errors: FieldErrors = {};
  const init = form.initial;
  const config: RunParameters = {
    lora: { ...init.lora }, training: { ...init.training }, dataOptions: { ...init.dataOptions },
    ...(init.backend !== undefined && { backend: init.backend }),
    ...(init.threads !== undefined && { threads: init.threads }),
    ...(init.memoryLimitBytes !== undefined && { memoryLimitBytes: init.memoryLimitBytes }),
  };
  for (const k of TEXT_FIELDS) {
    const f = formField(k)!;
    const shown = k === 'epochs' ? draft.lengthMode === 'epochs' : k === 'maxSteps' ? draft.lengthMode === 'maxSteps' : true;
    if (!shown) continue;
    const raw = draft[k].trim();
    const required = f.whenUnset === undefined || k === 'maxSteps';
    const rule = `${f.label} must be ${fieldRule(f)}${required ? '' : `, or blank: ${f.whenUnset}`}`;
    let value: unknown;
    if (k === 'layers') {
      const l = parseLayers(raw, form.modelSpec.numLayers);
      if (typeof l === 'string') errors[k] = l;
      else value = l;
    } else if (raw === '') {
      if (required) errors[k] = `required: ${rule}`;
    } else {
      const parsed = parseFieldText(f, raw);
      if (typeof parsed === 'object') value = parsed.value;
      else errors[k] = `${rule} (got "${raw}")`;
    }
    if (k === 'maxSeqLen' && typeof value === 'number' && value > form.modelSpec.maxPositions) {
      errors[k] = `the model has ${form.modelSpec.maxPositions} positions: use at most that`;
    }
    setField(config, f, value);
  }
  if (draft.lengthMode === 'epochs') setField(config, runField('training', 'maxSteps'), undefined);
  if (draft.targetModules.length === 0) errors.targetModules = 'choose at least one target module';
  setField(config, runField('lora', 'targetModules'), targetsOf(draft));
  for (const k of BOOL_FIELDS) setField(config, formField(k)!, draft[k]);
  // A rank (r, or the rank pattern's for a module) above min(in, out) of a targeted module: the engine's refusal, shown at the field it comes from.
  if (!errors.r && !errors.rankPattern && !errors.layers && !errors.targetModules) {
    const lora = config.lora!;
    const problem = rankProblem(form.modelSpec, { r: lora.r!, targetModules: targetsOf(draft), layersToTransform: lora.layers, rankPattern: patternRecord(lora.rankPattern) });
    if (problem) errors[problem.startsWith('rank_pattern') ? 'rankPattern' : 'r'] = problem;
  }
  // An init that cannot go with the rest (DoRA on PiSSA/OLoRA, OLoRA on GPT-2's Conv1D, rsLoRA + patterns on a converted adapter): the engine's refusal, at Initialisation.
  if (!errors.init && !errors.rankPattern && !errors.alphaPattern) {
    const lora = config.lora!;
    const problem = decompProblem({
      initLoraWeights: lora.init as LoraConfig['initLoraWeights'], useRslora: lora.useRslora === true, useDora: lora.useDora === true,
      rankPattern: patternRecord(lora.rankPattern), alphaPattern: patternRecord(lora.alphaPattern),
    }, form.modelSpec.family === 'gpt2');
    if (problem) errors.init = problem;
  }
  return Object.keys(errors).length ? { errors } : { errors, config };
}

export interface ModuleKind {
  /** The module path below the layer: `attn.c_attn`, `mlp.c_proj`, `self_attn.q_proj`. */
  kind: string;
  /** How many modules of this kind are adapted at this rank (one per selected layer). */
  count: number;
  inFeatures: number;
  outFeatures: number;
  /** The modules' rank: r, or the rank_pattern's where its first matching key gives one (a kind with two ranks is two rows). */
  r: number;
  /** r·(in+out), + out with DoRA's magnitude: the trainable parameters of one such module. */
  lora: number;
  /** Whether `lora` includes DoRA's magnitude (out). */
  dora: boolean;
  /** in·out: what full fine-tuning of that weight would train. */
  full: number;
}

export interface ParamPreview {
  counts: ParameterCounts;
  kinds: ModuleKind[];
}

/**
 * PEFT's trainable-parameter count for the draft (the rank pattern's per-module r included, as
 * `lora-lab params --rank-pattern` counts), and its breakdown by module kind and rank; undefined
 * while r, targets, layers or the rank pattern are invalid.
 */
export function paramPreview(spec: ModelSpec, draft: FormDraft): ParamPreview | undefined {
  const parsed = parseFieldText(runField('lora', 'r'), draft.r);
  if (typeof parsed !== 'object' || draft.targetModules.length === 0) return undefined;
  const r = parsed.value as number;
  const layers = parseLayers(draft.layers, spec.numLayers);
  if (typeof layers === 'string') return undefined;
  const pattern = parseFieldText(runField('lora', 'rankPattern'), draft.rankPattern);
  if (typeof pattern === 'string') return undefined;
  const cfg = { r, targetModules: targetsOf(draft), layersToTransform: layers, rankPattern: patternRecord(pattern?.value as string[] | undefined), useDora: draft.useDora };
  const counts = countParameters(spec, cfg);
  const kinds = new Map<string, ModuleKind>();
  for (const m of selectTargets(spec, cfg)) {
    const kind = m.path.replace(/^.*?\.\d+\./, '');
    const mr = moduleLora(cfg, m.path).r;
    const k = kinds.get(`${kind} ${mr}`);
    if (k) k.count++;
    else kinds.set(`${kind} ${mr}`, { kind, count: 1, inFeatures: m.inFeatures, outFeatures: m.outFeatures, r: mr, lora: mr * (m.inFeatures + m.outFeatures) + (draft.useDora ? m.outFeatures : 0), dora: draft.useDora, full: m.inFeatures * m.outFeatures });
  }
  // Rows of one kind together (the kinds in module order, each kind's ranks in order of appearance).
  const order = [...new Set([...kinds.values()].map((k) => k.kind))];
  return { counts, kinds: [...kinds.values()].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind)) };
}
