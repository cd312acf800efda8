// The configuration form as data: the editable draft (strings, so a half-typed "2e-" stays on
// screen), its validation with messages per field, the RunConfigInput it starts, and the live
// LoRA parameter preview (PEFT's count plus r·(in+out) vs in·out per module kind). Pure.
import type { FormState } from '../src/protocol/panel';
import type { RunConfigInput } from '../src/core/runConfig';
import { countParameters, selectTargets, type ParameterCounts } from '../src/core/loraConfig';
import type { ModelSpec } from '../src/core/hfConfig';

export const ALL_LINEAR = 'all-linear';
export const SCHEDULES = ['cosine', 'linear', 'constant'] as const;
export const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

export interface FormDraft {
  r: string;
  alpha: string;
  dropout: string;
  targets: string[];
  useRslora: boolean;
  /** Comma-separated layer indices; blank = every layer. */
  layers: string;
  lr: string;
  schedule: string;
  lengthMode: 'epochs' | 'maxSteps';
  epochs: string;
  maxSteps: string;
  batchSize: string;
  gradAccum: string;
  maxSeqLen: string;
  groupByLength: boolean;
  /** Blank = automatic (about ten evaluations per run). */
  evalEvery: string;
  /** Blank = with every evaluation. */
  checkpointEvery: string;
  seed: string;
  backend: string;
}

export type DraftField = keyof FormDraft;
export type FieldErrors = Partial<Record<DraftField, string>>;

const str = (v: unknown, fallback: string): string => (v === undefined || v === null ? fallback : String(v));

/** The draft a fresh form starts from: the host's prefilled values, else the engine's defaults. */
export function draftFromForm(form: FormState): FormDraft {
  const l = form.initial.lora ?? {};
  const t = form.initial.training ?? {};
  const targets = l.targets === ALL_LINEAR ? [ALL_LINEAR] : Array.isArray(l.targets) && l.targets.length ? l.targets : form.defaultTargets;
  return {
    r: str(l.r, '8'),
    alpha: str(l.alpha, '16'),
    dropout: str(l.dropout, '0.05'),
    targets: [...targets],
    useRslora: l.useRslora ?? false,
    layers: l.layers?.join(', ') ?? '',
    lr: str(t.lr, '2e-4'),
    schedule: t.schedule ?? 'cosine',
    lengthMode: t.maxSteps !== undefined ? 'maxSteps' : 'epochs',
    epochs: str(t.epochs, '3'),
    maxSteps: str(t.maxSteps, ''),
    batchSize: str(t.batchSize, '4'),
    gradAccum: str(t.gradAccum, '1'),
    maxSeqLen: str(t.maxSeqLen, '256'),
    groupByLength: t.groupByLength ?? false,
    evalEvery: str(t.evalEvery, ''),
    checkpointEvery: str(t.checkpointEvery, ''),
    seed: str(t.seed, '42'),
    backend: form.initial.backend ?? 'auto',
  };
}

/**
 * A new FormState (another model or dataset picked) keeps what the user typed; only targets the
 * new architecture lacks are reset to its defaults.
 */
export function mergeDraft(prev: FormDraft | undefined, form: FormState): FormDraft {
  const fresh = draftFromForm(form);
  if (!prev) return fresh;
  const valid = prev.targets.length > 0 && prev.targets.every((t) => t === ALL_LINEAR || form.moduleChoices.includes(t));
  return { ...prev, targets: valid ? prev.targets : fresh.targets };
}

function parseNumber(s: string): number | undefined {
  const t = s.trim();
  if (t === '') return undefined;
  const v = Number(t);
  return Number.isFinite(v) ? v : undefined;
}

/** Layer indices from "0, 1, 4-6"; a string is an error message. */
export function parseLayers(s: string, numLayers: number): number[] | undefined | string {
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

export function targetsOf(draft: Pick<FormDraft, 'targets'>): string[] | 'all-linear' {
  return draft.targets.includes(ALL_LINEAR) ? ALL_LINEAR : draft.targets;
}

export interface Validation {
  errors: FieldErrors;
  /** Present when the draft is valid: what startTraining sends. */
  config?: RunConfigInput;
}

/** Checks each field as the engine's validateRunConfig would, with the message next to the field. */
export function validateDraft(draft: FormDraft, form: FormState): Validation {
  const errors: FieldErrors = {};
  const num = (f: DraftField, ok: (v: number) => boolean, rule: string): number | undefined => {
    const raw = String(draft[f]);
    const v = parseNumber(raw);
    if (v === undefined || !ok(v)) {
      errors[f] = raw.trim() === '' ? `required: ${rule}` : `${rule} (got "${raw.trim()}")`;
      return undefined;
    }
    return v;
  };
  const optInt = (f: DraftField): number | undefined =>
    String(draft[f]).trim() === '' ? undefined : num(f, (v) => Number.isInteger(v) && v > 0, 'a whole number ≥ 1, or blank for automatic');
  const posInt = (v: number) => Number.isInteger(v) && v > 0;

  const r = num('r', posInt, 'rank must be a whole number ≥ 1');
  const alpha = num('alpha', (v) => v > 0, 'alpha must be > 0');
  const dropout = num('dropout', (v) => v >= 0 && v < 1, 'dropout must be in [0, 1)');
  if (draft.targets.length === 0) errors.targets = 'choose at least one target module';
  const layers = parseLayers(draft.layers, form.modelSpec.numLayers);
  if (typeof layers === 'string') errors.layers = layers;
  const lr = num('lr', (v) => v > 0 && v < 1, 'learning rate must be in (0, 1), e.g. 2e-4');
  if (!(SCHEDULES as readonly string[]).includes(draft.schedule)) errors.schedule = `schedule must be one of ${SCHEDULES.join(', ')}`;
  const epochs = draft.lengthMode === 'epochs' ? num('epochs', posInt, 'epochs must be a whole number ≥ 1') : undefined;
  const maxSteps = draft.lengthMode === 'maxSteps' ? num('maxSteps', posInt, 'max steps must be a whole number ≥ 1') : undefined;
  const batchSize = num('batchSize', posInt, 'batch size must be a whole number ≥ 1');
  const gradAccum = num('gradAccum', posInt, 'gradient accumulation must be a whole number ≥ 1');
  const maxSeqLen = num('maxSeqLen', (v) => Number.isInteger(v) && v >= 2, 'max sequence length must be a whole number ≥ 2');
  if (maxSeqLen !== undefined && maxSeqLen > form.modelSpec.maxPositions) {
    errors.maxSeqLen = `the model has ${form.modelSpec.maxPositions} positions: use at most that`;
  }
  const evalEvery = optInt('evalEvery');
  const checkpointEvery = optInt('checkpointEvery');
  const seed = num('seed', (v) => Number.isInteger(v), 'seed must be a whole number');
  if (!(BACKENDS as readonly string[]).includes(draft.backend)) errors.backend = `backend must be one of ${BACKENDS.join(', ')}`;
  if (Object.keys(errors).length) return { errors };

  const init = form.initial;
  const config: RunConfigInput = {
    ...init,
    model: form.model || init.model,
    data: form.dataset || init.data,
    backend: draft.backend as RunConfigInput['backend'],
    lora: { ...init.lora, r, alpha, dropout, targets: targetsOf(draft), useRslora: draft.useRslora, layers: layers as number[] | undefined },
    training: {
      ...init.training,
      lr,
      schedule: draft.schedule as (typeof SCHEDULES)[number],
      ...(draft.lengthMode === 'epochs' ? { epochs, maxSteps: undefined } : { maxSteps }),
      batchSize,
      gradAccum,
      maxSeqLen,
      groupByLength: draft.groupByLength,
      evalEvery,
      checkpointEvery,
      seed,
    },
  };
  return { errors, config };
}

export interface ModuleKind {
  /** The module path below the layer: `attn.c_attn`, `mlp.c_proj`, `self_attn.q_proj`. */
  kind: string;
  /** How many modules of this kind are adapted (one per selected layer). */
  count: number;
  inFeatures: number;
  outFeatures: number;
  /** r·(in+out): LoRA's trainable parameters for one such module. */
  lora: number;
  /** in·out: what full fine-tuning of that weight would train. */
  full: number;
}

export interface ParamPreview {
  counts: ParameterCounts;
  kinds: ModuleKind[];
}

/** PEFT's trainable-parameter count for the draft, and its breakdown by module kind; undefined while r, targets or layers are invalid. */
export function paramPreview(spec: ModelSpec, draft: FormDraft): ParamPreview | undefined {
  const r = parseNumber(draft.r);
  if (r === undefined || !Number.isInteger(r) || r < 1 || draft.targets.length === 0) return undefined;
  const layers = parseLayers(draft.layers, spec.numLayers);
  if (typeof layers === 'string') return undefined;
  const cfg = { r, targetModules: targetsOf(draft), layersToTransform: layers };
  const counts = countParameters(spec, cfg);
  const kinds = new Map<string, ModuleKind>();
  for (const m of selectTargets(spec, cfg)) {
    const kind = m.path.replace(/^.*?\.\d+\./, '');
    const k = kinds.get(kind);
    if (k) k.count++;
    else kinds.set(kind, { kind, count: 1, inFeatures: m.inFeatures, outFeatures: m.outFeatures, lora: r * (m.inFeatures + m.outFeatures), full: m.inFeatures * m.outFeatures });
  }
  return { counts, kinds: [...kinds.values()] };
}
