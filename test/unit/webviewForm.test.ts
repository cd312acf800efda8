// The configuration form's model: draft from FormState, validation messages per field, the
// RunConfigInput Start sends, and the live parameter preview (PEFT's numbers, r·(in+out) per kind).
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig, readConfig } from '../../src/core/hf/config';
import { resolveRunConfig } from '../../src/core/runConfig';
import { countParameters, resolveLoraConfig, type LoraConfig } from '../../src/core/lora/config';
import { startConfig, type FormState } from '../../src/protocol/panel';
import { fieldRule, formHelp, runConfigProblems, runField } from '../../src/protocol/runConfig';
import { draftFromForm, formField, initOptions, mergeDraft, paramPreview, parseLayers, TEXT_FIELDS, validateDraft, type FormDraft } from '../../webview/formModel';
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
    expect(p.kinds).toEqual([{ kind: 'attn.c_attn', count: 12, inFeatures: 768, outFeatures: 2304, r: 8, lora: 8 * (768 + 2304), dora: false, full: 768 * 2304 }]);
  });

  it('c_proj splits into attn.c_proj (768×768) and mlp.c_proj (3072×768), as PEFT matches both', () => {
    const p = paramPreview(gpt2, edit({ targetModules: ['c_proj'] }))!;
    expect(p.kinds.map((k) => [k.kind, k.inFeatures, k.outFeatures])).toEqual([['attn.c_proj', 768, 768], ['mlp.c_proj', 3072, 768]]);
  });

  it("the product's worked example: a 512×64 weight at r=8 trains 4,608 instead of 32,768", () => {
    const p = paramPreview(llama, { ...draftFromForm({ ...gpt2Form, modelSpec: llama }), targetModules: ['k_proj'] })!;
    expect(p.kinds).toEqual([{ kind: 'self_attn.k_proj', count: 2, inFeatures: 512, outFeatures: 64, r: 8, lora: 4608, dora: false, full: 32_768 }]);
  });

  it('all-linear and layers_to_transform follow countParameters', () => {
    const all = paramPreview(gpt2, edit({ targetModules: ['all-linear'], layers: '0, 10-11' }))!;
    expect(all.counts.adaptedModules).toBe(12);
    expect(all.kinds.every((k) => k.count === 3)).toBe(true);
  });

  it('the rank pattern counts as `lora-lab params --rank-pattern` does: per-module r, the first matching key winning, a kind with two ranks two rows', () => {
    const draft = edit({ targetModules: ['c_attn', 'c_proj'], rankPattern: 'h\\.0\\.attn\\.c_attn=16, c_attn=4, attn\\.c_attn=32' });
    const p = paramPreview(gpt2, draft)!;
    const cfg = { r: 8, targetModules: ['c_attn', 'c_proj'], rankPattern: { 'h\\.0\\.attn\\.c_attn': 16, c_attn: 4, 'attn\\.c_attn': 32 } };
    expect(p.counts).toEqual(countParameters(gpt2, cfg));
    // h.0's c_attn at 16, the other 11 at 4 (c_attn matches before attn\.c_attn), every c_proj at r=8.
    expect(p.counts.trainable).toBe(16 * 3072 + 11 * 4 * 3072 + 12 * 8 * 1536 + 12 * 8 * 3840);
    expect(p.kinds.map((k) => [k.kind, k.count, k.r, k.lora])).toEqual([
      ['attn.c_attn', 1, 16, 16 * 3072], ['attn.c_attn', 11, 4, 4 * 3072], ['attn.c_proj', 12, 8, 8 * 1536], ['mlp.c_proj', 12, 8, 8 * 3840]]);
    // A blank pattern: r everywhere again.
    expect(paramPreview(gpt2, edit({ rankPattern: '' }))!.counts.trainable).toBe(294_912);
  });

  it("equals PEFT's print_trainable_parameters() of the golden rank_pattern GPT-2 (3,776 of 34,368), as lora-lab params --rank-pattern", () => {
    const fixtures = path.join(__dirname, '..', 'fixtures');
    const golden = JSON.parse(fs.readFileSync(path.join(fixtures, 'peft', 'patterns-gpt2-tiny', 'golden.json'), 'utf8')) as { trainable_params: number; total_params: number };
    const { spec } = readConfig(path.join(fixtures, 'gpt2-tiny'));
    const form: FormState = { ...gpt2Form, modelSpec: spec };
    const draft = { ...draftFromForm(form), r: '4', targetModules: ['c_attn', 'c_proj', 'c_fc'], rankPattern: '1\\.attn\\.c_attn=2,c_attn=6,mlp\\.c_proj=3' };
    const p = paramPreview(spec, draft)!;
    expect([p.counts.trainable, p.counts.total]).toEqual([golden.trainable_params, golden.total_params]);
    expect([golden.trainable_params, golden.total_params]).toEqual([3776, 34_368]);
  });

  it('no preview while rank, targets or layers are invalid', () => {
    expect(paramPreview(gpt2, edit({ r: '0' }))).toBeUndefined();
    expect(paramPreview(gpt2, edit({ r: '2.5' }))).toBeUndefined();
    expect(paramPreview(gpt2, edit({ targetModules: [] }))).toBeUndefined();
    expect(paramPreview(gpt2, edit({ layers: '12' }))).toBeUndefined();
    expect(paramPreview(gpt2, edit({ rankPattern: 'c_attn' }))).toBeUndefined();
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

describe('LoRA+, rank and alpha patterns, init', () => {
  it('are form fields with the table\'s label and one-line help; blank by default (plain LoRA, r and alpha everywhere)', () => {
    for (const k of ['loraplusLrRatio', 'rankPattern', 'alphaPattern', 'init', 'useRslora'] as const) {
      const f = formField(k)!;
      expect(f.label).toBeTruthy();
      expect(formHelp(f)).not.toContain('\n');
    }
    expect(TEXT_FIELDS).toEqual(expect.arrayContaining(['loraplusLrRatio', 'rankPattern', 'alphaPattern', 'init']));
    expect(formHelp(formField('loraplusLrRatio')!)).toMatch(/^LoRA\+: every B matrix learns at the learning rate × this ratio.*; blank: plain LoRA, B learns at the learning rate\.$/);
    expect(formHelp(formField('rankPattern')!)).toMatch(/rank_pattern.*first matching key wins; blank: r for every module\.$/);
    expect(formHelp(formField('alphaPattern')!)).toMatch(/alpha_pattern.*; blank: alpha for every module\.$/);
    const d = draftFromForm(gpt2Form);
    expect(d).toMatchObject({ loraplusLrRatio: '', rankPattern: '', alphaPattern: '', init: 'kaiming' });
    const v = validateDraft(d, gpt2Form);
    expect(v.config!.training!.loraplusLrRatio).toBeUndefined();
    expect(v.config!.lora!.rankPattern).toBeUndefined();
    expect(v.config!.lora!.alphaPattern).toBeUndefined();
  });

  it('invalid values get the table\'s rule, as the CLI and run.json validation word it', () => {
    const v = validateDraft(edit({ loraplusLrRatio: '0', rankPattern: 'c_attn', alphaPattern: 'c_attn=0' }), gpt2Form);
    expect(v.config).toBeUndefined();
    const ratio = runField('training', 'loraplusLrRatio');
    const rank = runField('lora', 'rankPattern');
    expect(v.errors.loraplusLrRatio).toBe(`LoRA+ ratio (B rate ÷ A rate) must be ${fieldRule(ratio)}, or blank: plain LoRA, B learns at the learning rate (got "0")`);
    expect(fieldRule(ratio)).toBe('a number > 0');
    expect(v.errors.rankPattern).toBe(`Rank pattern must be ${fieldRule(rank)}, or blank: r for every module (got "c_attn")`);
    expect(fieldRule(rank)).toBe('a list of regex=rank (a whole number ≥ 1) entries');
    expect(v.errors.alphaPattern).toBe(`Alpha pattern must be ${fieldRule(runField('lora', 'alphaPattern'))}, or blank: alpha for every module (got "c_attn=0")`);
    // A non-integer rank, a rank of 0, a key that is not a regex, one bad entry among good ones.
    for (const bad of ['c_attn=2.5', 'c_attn=0', '(c_attn=4', 'c_proj=4, c_attn=x']) {
      expect(validateDraft(edit({ rankPattern: bad }), gpt2Form).errors.rankPattern).toBe(`Rank pattern must be ${fieldRule(rank)}, or blank: r for every module (got "${bad}")`);
    }
    // The same values are what run.json validation refuses.
    expect(runConfigProblems({ training: { loraplusLrRatio: 0 }, lora: { rankPattern: ['c_attn'] } })).toEqual([
      `lora.rankPattern must be ${fieldRule(rank)}, got ["c_attn"]`, `training.loraplusLrRatio must be ${fieldRule(ratio)}, got 0`]);
    // Other fields stay valid: only the bad ones are named.
    expect(Object.keys(v.errors).sort()).toEqual(['alphaPattern', 'loraplusLrRatio', 'rankPattern']);
  });

  it('a rank pattern above min(in, out) of a targeted module is the engine\'s refusal, at the pattern', () => {
    const v = validateDraft(edit({ targetModules: ['c_proj'], rankPattern: 'attn\\.c_proj=800' }), gpt2Form);
    expect(v.errors.rankPattern).toMatch(/rank_pattern gives transformer\.h\.0\.attn\.c_proj r=800, which exceeds its min\(in, out\)=768/);
    expect(v.errors.r).toBeUndefined();
    expect(validateDraft(edit({ r: '800', targetModules: ['c_proj'] }), gpt2Form).errors.r).toMatch(/LoRA rank r=800 exceeds min\(in, out\)=768/);
  });

  it('valid values reach the RunConfigInput Start sends, and the engine resolves them', () => {
    const v = validateDraft(edit({ loraplusLrRatio: '16', rankPattern: 'h\\.0\\.attn\\.c_attn=16, c_attn=4', alphaPattern: ' c_attn=32 ,', init: 'gaussian', useRslora: true }), gpt2Form);
    expect(v.errors).toEqual({});
    expect(v.config!.training!.loraplusLrRatio).toBe(16);
    expect(v.config!.lora).toMatchObject({ rankPattern: ['h\\.0\\.attn\\.c_attn=16', 'c_attn=4'], alphaPattern: ['c_attn=32'], init: 'gaussian', useRslora: true });
    const cfg = resolveRunConfig(startConfig(gpt2Form, v.config!));
    expect(cfg.training.loraplusLrRatio).toBe(16);
    expect(cfg.lora).toMatchObject({ rankPattern: ['h\\.0\\.attn\\.c_attn=16', 'c_attn=4'], alphaPattern: ['c_attn=32'], init: 'gaussian', useRslora: true });
    expect(runConfigProblems(cfg)).toEqual([]);
  });

  it('prefill from the settings / initial config, and a new FormState keeps what was typed', () => {
    const form: FormState = { ...gpt2Form, initial: { ...gpt2Form.initial, lora: { r: 8, rankPattern: ['c_attn=4', 'c_proj=2'], init: 'gaussian' }, training: { loraplusLrRatio: 16 } } };
    expect(draftFromForm(form)).toMatchObject({ rankPattern: 'c_attn=4, c_proj=2', loraplusLrRatio: '16', init: 'gaussian' });
    expect(mergeDraft(edit({ rankPattern: 'c_fc=2' }), form).rankPattern).toBe('c_fc=2');
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

describe('DoRA, PiSSA/OLoRA init, base dropout (issue 18)', () => {
  const doraCounts = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/dora/param-counts.json'), 'utf8')) as { name: string; trainable: number; total: number }[];

  it("with DoRA the preview counts the magnitude (out per module) as PEFT's print_trainable_parameters: GPT-2 r=8 c_attn 322,560 of 124,762,368", () => {
    const peft = doraCounts.find((c) => c.name === 'gpt2 r=8 c_attn use_dora')!;
    const p = paramPreview(gpt2, edit({ useDora: true }))!;
    expect(p.counts.trainable).toBe(peft.trainable);
    expect(p.counts.total).toBe(peft.total);
    expect(p.kinds).toEqual([{ kind: 'attn.c_attn', count: 12, inFeatures: 768, outFeatures: 2304, r: 8, lora: 8 * (768 + 2304) + 2304, dora: true, full: 768 * 2304 }]);
    // The kinds add up to the total, DoRA's magnitudes included.
    expect(p.kinds.reduce((s, k) => s + k.count * k.lora, 0)).toBe(p.counts.trainable);
  });

  it('are form fields with the table\'s label and one-line help, off / kaiming / on by default', () => {
    for (const k of ['useDora', 'baseDropout', 'init'] as const) {
      const f = formField(k)!;
      expect(f.label.length).toBeGreaterThan(3);
      expect(formHelp(f)).not.toMatch(/\n/);
    }
    expect(draftFromForm(gpt2Form)).toMatchObject({ useDora: false, init: 'kaiming', baseDropout: true });
  });

  it("the Initialisation menu: the table's choices with pissa_niter_4 / _16 after pissa, and a settings value such as pissa_niter_7 kept", () => {
    expect(initOptions('kaiming')).toEqual(['kaiming', 'gaussian', 'pissa', 'pissa_niter_4', 'pissa_niter_16', 'olora']);
    expect(initOptions('pissa_niter_7')).toEqual(['kaiming', 'gaussian', 'pissa', 'pissa_niter_4', 'pissa_niter_16', 'olora', 'pissa_niter_7']);
    // Each is a valid choice on Llama (on GPT-2, olora is refused: below).
    const llamaForm: FormState = { ...gpt2Form, modelSpec: llama, moduleChoices: ['q_proj', 'v_proj', 'all-linear'], defaultTargets: ['q_proj', 'v_proj'] };
    for (const o of initOptions('pissa_niter_7')) expect(validateDraft({ ...draftFromForm(llamaForm), init: o }, llamaForm).errors).toEqual({});
    expect(validateDraft(edit({ init: 'svd' }), gpt2Form).errors.init).toMatch(/Initialisation must be/);
  });

  it('pissa_niter_16 and base dropout off reach the RunConfigInput Start sends (DoRA on its own), and the engine resolves them', () => {
    expect(validateDraft(edit({ useDora: true }), gpt2Form).config!.lora!.useDora).toBe(true);
    const v = validateDraft(edit({ init: 'pissa_niter_16', baseDropout: false }), gpt2Form);
    expect(v.errors).toEqual({});
    expect(v.config!.lora).toMatchObject({ useDora: false, init: 'pissa_niter_16' });
    expect(v.config!.training!.baseDropout).toBe(false);
    const cfg = resolveRunConfig(startConfig(gpt2Form, v.config!));
    expect(cfg.lora).toMatchObject({ useDora: false, init: 'pissa_niter_16' });
    expect(cfg.training.baseDropout).toBe(false);
    expect(runConfigProblems(cfg)).toEqual([]);
  });

  it("the engine's refusals of an init with the rest are shown at Initialisation, worded as lora-lab train words them", () => {
    // The engine's words: resolveLoraConfig, which lora-lab train and the worker run on the same options.
    const engine = (lora: Partial<LoraConfig>) => {
      try {
        resolveLoraConfig(gpt2, { r: 8, loraAlpha: 16, targetModules: ['c_attn'], ...lora });
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    };
    const refusal = (d: Partial<FormDraft>, lora: Partial<LoraConfig>) => {
      const v = validateDraft(edit(d), gpt2Form);
      expect(v.config).toBeUndefined();
      expect(engine(lora)).not.toBe('');
      expect(v.errors.init).toBe(engine(lora));
      return v.errors.init!;
    };
    expect(refusal({ useDora: true, init: 'pissa_niter_4' }, { useDora: true, initLoraWeights: 'pissa_niter_4' })).toMatch(/^use_dora with init_lora_weights "pissa_niter_4" is not supported/);
    expect(refusal({ init: 'olora' }, { initLoraWeights: 'olora' })).toMatch(/"olora" is not supported on GPT-2/);
    expect(refusal({ init: 'pissa', useRslora: true, rankPattern: 'c_attn=4' }, { initLoraWeights: 'pissa', useRslora: true, rankPattern: { c_attn: 4 } })).toMatch(/use_rslora and rank_pattern/);
    // Llama (no Conv1D): OLoRA is fine.
    const llamaForm: FormState = { ...gpt2Form, modelSpec: llama, moduleChoices: ['q_proj', 'v_proj', 'all-linear'], defaultTargets: ['q_proj', 'v_proj'] };
    expect(validateDraft({ ...draftFromForm(llamaForm), init: 'olora' }, llamaForm).errors).toEqual({});
  });

  it('prefill from the settings / initial config', () => {
    const form: FormState = { ...gpt2Form, initial: { ...gpt2Form.initial, lora: { r: 8, useDora: true, init: 'olora' }, training: { baseDropout: false } } };
    expect(draftFromForm(form)).toMatchObject({ useDora: true, init: 'olora', baseDropout: false });
  });
});
