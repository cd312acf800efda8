// The configuration form's model: draft from FormState, validation messages per field, the
// RunConfigInput Start sends, and the live parameter preview (PEFT's numbers, r·(in+out) per kind).
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/core/hf/config';
import { resolveRunConfig } from '../../src/core/runConfig';
import { startConfig, type FormState } from '../../src/protocol/panel';
import { draftFromForm, mergeDraft, paramPreview, parseLayers, validateDraft, type FormDraft } from '../../webview/formModel';
import { fmtDuration, fmtInt, fmtLoss } from '../../webview/format';

const gpt2 = parseConfig({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 768, n_head: 12, n_layer: 12, n_positions: 1024, vocab_size: 50257 });
const llama = parseConfig({
  architectures: ['LlamaForCausalLM'], hidden_size: 512, intermediate_size: 1024, num_attention_heads: 8, num_key_value_heads: 1,
  num_hidden_layers: 2, vocab_size: 1000, max_position_embeddings: 256,
});

const gpt2Form: FormState = {
  dataset: '/ws/data/train.jsonl', datasetSummary: 'prompt/completion, 1,200 rows', model: '/models/gpt2', modelSpec: gpt2,
  moduleChoices: ['c_attn', 'c_proj', 'c_fc', 'all-linear'], defaultTargets: ['c_attn'],
  initial: { model: '/models/gpt2', data: '/ws/data/train.jsonl', workspace: '/ws', lora: { r: 8, alpha: 16 }, training: { learningRate: 2e-4, epochs: 3 } },
};

const edit = (patch: Partial<FormDraft>) => ({ ...draftFromForm(gpt2Form), ...patch });

describe('parameter preview', () => {
  it('GPT-2 (124M), r=8, c_attn: 294,912 trainable of 124,734,720 (0.2364%) — as PEFT prints', () => {
    const p = paramPreview(gpt2, draftFromForm(gpt2Form))!;
    expect(p.counts.trainable).toBe(294_912);
    expect(p.counts.total).toBe(124_734_720);
    expect(p.counts.percent.toFixed(4)).toBe('0.2364');
    expect(p.kinds).toEqual([{ kind: 'attn.c_attn', count: 12, inFeatures: 768, outFeatures: 2304, lora: 8 * (768 + 2304), full: 768 * 2304 }]);
  });

  it('c_proj splits into attn.c_proj (768×768) and mlp.c_proj (3072×768), as PEFT matches both', () => {
    const p = paramPreview(gpt2, edit({ targetModules: ['c_proj'] }))!;
    expect(p.kinds.map((k) => [k.kind, k.inFeatures, k.outFeatures])).toEqual([['attn.c_proj', 768, 768], ['mlp.c_proj', 3072, 768]]);
  });

  it("the product's worked example: a 512×64 weight at r=8 trains 4,608 instead of 32,768", () => {
    const p = paramPreview(llama, { ...draftFromForm({ ...gpt2Form, modelSpec: llama }), targetModules: ['k_proj'] })!;
    expect(p.kinds).toEqual([{ kind: 'self_attn.k_proj', count: 2, inFeatures: 512, outFeatures: 64, lora: 4608, full: 32_768 }]);
  });

  it('all-linear and layers_to_transform follow countParameters', () => {
    const all = paramPreview(gpt2, edit({ targetModules: ['all-linear'], layers: '0, 10-11' }))!;
    expect(all.counts.adaptedModules).toBe(12);
    expect(all.kinds.every((k) => k.count === 3)).toBe(true);
  });

  it('no preview while rank, targets or layers are invalid', () => {
    expect(paramPreview(gpt2, edit({ r: '0' }))).toBeUndefined();
    expect(paramPreview(gpt2, edit({ r: '2.5' }))).toBeUndefined();
    expect(paramPreview(gpt2, edit({ targetModules: [] }))).toBeUndefined();
    expect(paramPreview(gpt2, edit({ layers: '12' }))).toBeUndefined();
  });
});

describe('validation', () => {
  it('the prefilled form is valid, sends hyper-parameters only, and with the host-picked files resolves in the engine', () => {
    const v = validateDraft(draftFromForm(gpt2Form), gpt2Form);
    expect(v.errors).toEqual({});
    // The webview never sends paths: the host adds the dataset and model it picked (startConfig).
    expect(Object.keys(v.config!).filter((k) => ['model', 'data', 'workspace', 'runsDir', 'validData'].includes(k))).toEqual([]);
    const cfg = resolveRunConfig(startConfig(gpt2Form, v.config!));
    expect(cfg.lora).toMatchObject({ r: 8, alpha: 16, targetModules: ['c_attn'], useRslora: false });
    expect(cfg.training).toMatchObject({ learningRate: 2e-4, epochs: 3, schedule: 'cosine', batchSize: 4, groupByLength: false });
    expect(cfg.workspace).toBe('/ws');
  });

  it('names each bad field with its rule', () => {
    const v = validateDraft(edit({ r: '0', alpha: '-1', dropout: '1', learningRate: '0', batchSize: '2.5', maxSeqLen: '4096', seed: 'x', evalEvery: '0', targetModules: [] }), gpt2Form);
    expect(v.config).toBeUndefined();
    expect(v.errors.r).toMatch(/Rank r must be a whole number ≥ 1/);
    expect(v.errors.alpha).toMatch(/> 0/);
    expect(v.errors.dropout).toMatch(/\[0, 1\)/);
    expect(v.errors.learningRate).toMatch(/\(0, 1\)/);
    expect(v.errors.batchSize).toMatch(/whole number/);
    expect(v.errors.maxSeqLen).toMatch(/1024 positions/);
    expect(v.errors.seed).toMatch(/whole number/);
    expect(v.errors.evalEvery).toMatch(/or blank: about ten evaluations per run/);
    expect(v.errors.targetModules).toMatch(/at least one/);
  });

  it('an empty required field says so', () => {
    expect(validateDraft(edit({ learningRate: ' ' }), gpt2Form).errors.learningRate).toMatch(/^required/);
  });

  it('max steps replaces epochs; blank cadences stay automatic; all-linear is sent as the string', () => {
    const v = validateDraft(edit({ lengthMode: 'maxSteps', maxSteps: '2000', targetModules: ['c_attn', 'all-linear'], useRslora: true, learningRate: '5e-4' }), gpt2Form);
    expect(v.config!.training).toMatchObject({ maxSteps: 2000, learningRate: 5e-4, evalEvery: undefined, checkpointEvery: undefined });
    expect(v.config!.lora).toMatchObject({ targetModules: 'all-linear', useRslora: true });
    expect(validateDraft(edit({ groupByLength: true }), gpt2Form).config!.training!.groupByLength).toBe(true);
    // The setting prefills the checkbox.
    const fromSettings = { ...gpt2Form, initial: { ...gpt2Form.initial, training: { ...gpt2Form.initial.training, groupByLength: true } } };
    expect(draftFromForm(fromSettings).groupByLength).toBe(true);
    expect(resolveRunConfig(startConfig(gpt2Form, v.config!)).training.maxSteps).toBe(2000);
  });

  it('layer lists and ranges parse; out-of-range layers are reported', () => {
    expect(parseLayers('0, 2-4, 2', 12)).toEqual([0, 2, 3, 4]);
    expect(parseLayers('', 12)).toBeUndefined();
    expect(parseLayers('12', 12)).toMatch(/layers 0–11/);
    expect(parseLayers('a', 12)).toMatch(/not a layer index/);
  });
});

describe('draft', () => {
  it('a new FormState keeps what the user typed, and resets targets the new model lacks', () => {
    const typed = edit({ r: '16', targetModules: ['c_fc'] });
    const llamaForm: FormState = { ...gpt2Form, modelSpec: llama, moduleChoices: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'all-linear'], defaultTargets: ['q_proj', 'v_proj'] };
    const merged = mergeDraft(typed, llamaForm);
    expect(merged.r).toBe('16');
    expect(merged.targetModules).toEqual(['q_proj', 'v_proj']);
    expect(mergeDraft(typed, gpt2Form).targetModules).toEqual(['c_fc']);
  });

  it('prefills from the settings, else the defaults', () => {
    const d = draftFromForm({ ...gpt2Form, initial: { model: 'm', data: 'd', training: { maxSteps: 500 }, lora: { targetModules: 'all-linear' } } });
    expect(d).toMatchObject({ r: '8', lengthMode: 'maxSteps', maxSteps: '500', targetModules: ['all-linear'], evalEvery: '' });
  });
});

describe('format', () => {
  it('numbers and durations as the panel shows them', () => {
    expect(fmtInt(124734720)).toBe('124,734,720');
    expect(fmtLoss(2.345678)).toBe('2.346');
    expect(fmtLoss(NaN)).toBe('NaN');
    expect(fmtDuration(192_000)).toBe('3m 12s');
    expect(fmtDuration(3_720_000)).toBe('1h 02m');
  });
});
