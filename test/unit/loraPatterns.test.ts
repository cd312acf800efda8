// Issue 18 item 4: rank_pattern / alpha_pattern as PEFT 0.21.2 applies them. Key matching is PEFT's
// get_pattern_key (peft/utils/other.py): the first key, in dict order, with
// re.match(rf"(.*\.)?({key})$", module_name). The golden adapters are PEFT's own
// (scripts/gen_peft_fields.py, test/fixtures/peft/patterns-*): LoRA Lab must reproduce PEFT's
// logits, its merge_and_unload() logits and get_nb_trainable_parameters() (print_trainable_parameters()).
import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { countParameters, moduleLora, patternKey, resolveLoraConfig } from '../../src/core/lora/config';
import { loadModel } from '../../src/core/models/load';
import { loadPeftAdapter, readPeftAdapter, writePeftAdapter } from '../../src/core/peft/adapterFolder';
import { mergeModelFolder } from '../../src/core/peft/merge';
import { resolveRunConfig } from '../../src/core/runConfig';
import { parseFieldText, patternRecord, runField } from '../../src/protocol/runConfig';
import { configFromFlags } from '../../src/cli/train';
import { cli } from './helpers/cli';
import { factsMarkdown } from '../../src/core/hf/modelCard';

const PEFT = path.join(__dirname, '..', 'fixtures', 'peft');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lora-patterns-'));
const maxDiff = (a: tf.Tensor, b: number[][][]) => tf.tidy(() => a.sub(tf.tensor(b)).abs().max().dataSync()[0]);

describe("patternKey = PEFT's get_pattern_key", () => {
  // Each expectation is what re.match(rf"(.*\.)?({key})$", name) gives in Python.
  const name = 'transformer.h.1.attn.c_attn';
  it.each([
    ['c_attn', true], ['attn.c_attn', true], ['h\\.1\\.attn\\.c_attn', true], ['1\\.attn\\.c_attn', true], [name, true],
    ['attn', false], ['_attn', false], ['h.1', false], ['c_att', false], ['transformer\\.h\\.[01]\\.attn\\.c_attn', true], ['c_(attn|proj)', true],
  ] as const)('key %j %s transformer.h.1.attn.c_attn', (key, hit) => {
    expect(patternKey([key], name)).toBe(hit ? key : undefined);
  });
  it('the first matching key in the dict order wins', () => {
    expect(patternKey(['c_attn', 'h\\.1\\.attn\\.c_attn'], name)).toBe('c_attn');
    expect(moduleLora({ r: 8, loraAlpha: 16, rankPattern: { '1\\.attn\\.c_attn': 2, c_attn: 6 }, alphaPattern: { c_fc: 3 } }, name)).toMatchObject({ r: 2, loraAlpha: 16 });
    expect(moduleLora({ r: 8, loraAlpha: 16, rankPattern: { '1\\.attn\\.c_attn': 2, c_attn: 6 } }, 'transformer.h.0.attn.c_attn').r).toBe(6);
  });
  it('bad patterns are errors naming the field', () => {
    const spec = loadModel(path.join(PEFT, '..', 'gpt2-tiny')).spec;
    expect(() => resolveLoraConfig(spec, { rankPattern: { c_attn: 0 } })).toThrow(/rank_pattern "c_attn": 0 is not a positive integer rank/);
    expect(() => resolveLoraConfig(spec, { alphaPattern: { '(': 2 } })).toThrow(/alpha_pattern key "\(" is not a valid regular expression/);
  });
});

type Golden = {
  base: string;
  input_ids: number[][];
  logits: number[][][];
  logits_merged: number[][][];
  modules: Record<string, { r: number; alpha: number; scaling: number }>;
  trainable_params: number;
  total_params: number;
};

describe.each(['patterns-gpt2-tiny', 'patterns-llama-tiny'])('%s (PEFT get_peft_model with rank_pattern and alpha_pattern)', (name) => {
  const dir = path.join(PEFT, name);
  const g = JSON.parse(fs.readFileSync(path.join(dir, 'golden.json'), 'utf8')) as Golden;
  const base = path.join(dir, g.base);

  it("loads with PEFT's per-module r and alpha, and gives PEFT's logits (1e-4)", () => {
    const { model } = loadModel(base);
    const { config } = loadPeftAdapter(model, dir);
    for (const [m, want] of Object.entries(g.modules)) {
      const got = moduleLora(config, m);
      expect([m, got.r, got.loraAlpha]).toEqual([m, want.r, want.alpha]);
    }
    expect(model.namedVariables().filter((v) => v.peftName.endsWith('lora_A.weight')).length).toBe(Object.keys(g.modules).length);
    const logits = model.logits(g.input_ids);
    expect(maxDiff(logits, g.logits)).toBeLessThan(1e-4);
    model.merge();
    const merged = model.logits(g.input_ids);
    expect(maxDiff(merged, g.logits_merged)).toBeLessThan(1e-4);
    tf.dispose([logits, merged]);
    model.dispose();
  });

  it("counts the parameters as PEFT's print_trainable_parameters()", () => {
    const { model } = loadModel(base);
    const { config } = loadPeftAdapter(model, dir);
    const c = countParameters(model.spec, config);
    expect([c.trainable, c.total]).toEqual([g.trainable_params, g.total_params]);
    expect(c.adaptedModules).toBe(Object.keys(g.modules).length);
    model.dispose();
  });

  // The folder keeps the base's dtype: the Llama fixture is BF16, so its merged weights are rounded to
  // BF16 (the float32 merge is checked at 1e-4 above); same bound as test/unit/mergeFolder.test.ts.
  const bf16 = name.includes('llama');
  it(`lora-lab merge writes a folder with PEFT's merge_and_unload() logits (${bf16 ? '0.1, BF16 weights' : '1e-4'})`, () => {
    const out = path.join(tmp(), 'merged');
    mergeModelFolder({ model: base, adapter: dir, out });
    const { model } = loadModel(out);
    const logits = model.logits(g.input_ids);
    expect(maxDiff(logits, g.logits_merged)).toBeLessThan(bf16 ? 0.1 : 1e-4);
    logits.dispose();
    model.dispose();
  });

  it('written back, the adapter keeps its patterns and tensors', () => {
    const { model } = loadModel(base);
    const first = loadPeftAdapter(model, dir);
    const out = tmp();
    writePeftAdapter(out, model.loraConfig!, model.spec, name, model.adapterTensors());
    const again = readPeftAdapter(out);
    expect(again.config.rankPattern).toEqual(first.config.rankPattern);
    expect(again.config.alphaPattern).toEqual(first.config.alphaPattern);
    for (const [k, t] of first.tensors) expect(again.tensors.get(k)!.shape).toEqual(t.shape);
    model.dispose();
  });
});

describe('a rank that disagrees with rank_pattern', () => {
  it('is refused naming the tensor, the module and rank_pattern', () => {
    const src = path.join(PEFT, 'patterns-gpt2-tiny');
    const dir = tmp();
    const c = JSON.parse(fs.readFileSync(path.join(src, 'adapter_config.json'), 'utf8'));
    c.rank_pattern = { c_attn: 6, 'mlp\\.c_proj': 3 }; // drops layer 1's r=2
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(c));
    fs.copyFileSync(path.join(src, 'adapter_model.safetensors'), path.join(dir, 'adapter_model.safetensors'));
    c.alpha_pattern = { '(?P<x>c_fc)': 2 }; // Python-only regex syntax
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(c));
    expect(() => readPeftAdapter(dir)).toThrow(/adapter_config\.json: "alpha_pattern" key "\(\?P<x>c_fc\)" is not a regular expression LoRA Lab can read/);
    c.alpha_pattern = {};
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(c));
    expect(() => readPeftAdapter(dir)).toThrow(/adapter_model\.safetensors: tensor "base_model\.model\.transformer\.h\.1\.attn\.c_attn\.lora_[AB]\.weight" has rank 2 but adapter_config\.json says r=6 for transformer\.h\.1\.attn\.c_attn \(rank_pattern\)/);
  });
});

describe('--rank-pattern / --alpha-pattern (run config lora.rankPattern / lora.alphaPattern)', () => {
  const RANK = runField('lora', 'rankPattern');
  const ALPHA = runField('lora', 'alphaPattern');
  it('parse as `regex=number` entries, in order, and become PEFT dicts', () => {
    expect(parseFieldText(RANK, 'h\\.1\\.attn\\.c_attn=2, c_attn=6')).toEqual({ value: ['h\\.1\\.attn\\.c_attn=2', 'c_attn=6'] });
    expect(patternRecord(['h\\.1\\.attn\\.c_attn=2', 'c_attn=6'])).toEqual({ 'h\\.1\\.attn\\.c_attn': 2, c_attn: 6 });
    expect(Object.keys(patternRecord(['z=1', 'a=2'])!)).toEqual(['z', 'a']);
    expect(parseFieldText(ALPHA, 'c_fc=1.5')).toEqual({ value: ['c_fc=1.5'] });
    expect(patternRecord(undefined)).toBeUndefined();
  });
  it('bad entries are refused naming the rule', () => {
    for (const bad of ['c_attn', 'c_attn=0', 'c_attn=2.5', '=4', '(=4', 'c_attn=x']) expect(parseFieldText(RANK, bad), bad).toBe('must be a list of regex=rank (a whole number ≥ 1) entries');
    expect(parseFieldText(ALPHA, 'c_fc=-1')).toBe('must be a list of regex=number entries');
    expect(() => resolveRunConfig({ model: 'm', data: 'd', lora: { rankPattern: ['c_attn=0'] } })).toThrow(/lora\.rankPattern must be a list of regex=rank \(a whole number ≥ 1\) entries, got \["c_attn=0"\]/);
  });
  it('a run trained with them writes them into adapter_config.json, with tensors of those ranks, that LoRA Lab reads back', () => {
    const { model } = loadModel(path.join(PEFT, '..', 'gpt2-tiny'));
    model.addAdapter({ r: 4, loraAlpha: 8, targetModules: ['c_attn', 'c_fc'], rankPattern: patternRecord(['1\\.attn\\.c_attn=2', 'c_fc=3']), alphaPattern: patternRecord(['c_fc=6']) });
    const out = tmp();
    writePeftAdapter(out, model.loraConfig!, model.spec, 'gpt2-tiny', model.adapterTensors());
    const c = JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'));
    expect([c.r, c.rank_pattern, c.alpha_pattern]).toEqual([4, { '1\\.attn\\.c_attn': 2, c_fc: 3 }, { c_fc: 6 }]);
    const back = readPeftAdapter(out);
    const rankOf = (m: string) => back.tensors.get(`base_model.model.transformer.${m}.lora_A.weight`)!.shape[0];
    expect(['h.0.attn.c_attn', 'h.1.attn.c_attn', 'h.0.mlp.c_fc', 'h.1.mlp.c_fc'].map(rankOf)).toEqual([4, 2, 3, 3]);
    expect(countParameters(model.spec, back.config).trainable).toBe(4 * (32 + 96) + 2 * (32 + 96) + 2 * 3 * (32 + 128));
    model.dispose();
  });
});

describe('lora-lab params --rank-pattern / train --rank-pattern --alpha-pattern', () => {
  it("params counts PEFT's print_trainable_parameters() of the golden GPT-2 config (3,776 of 34,368)", async () => {
    const g = JSON.parse(fs.readFileSync(path.join(PEFT, 'patterns-gpt2-tiny', 'golden.json'), 'utf8')) as Golden;
    const model = path.join(PEFT, '..', 'gpt2-tiny');
    const { code, out } = await cli(['params', '--model', model, '--rank', '4', '--targets', 'c_attn,c_proj,c_fc', '--rank-pattern', '1\\.attn\\.c_attn=2,c_attn=6,mlp\\.c_proj=3', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ trainable: g.trainable_params, total: g.total_params, rankPattern: { '1\\.attn\\.c_attn': 2, c_attn: 6, 'mlp\\.c_proj': 3 } });
    expect((await cli(['params', '--model', model, '--rank-pattern', 'c_attn'])).err).toContain('--rank-pattern must be a list of regex=rank (a whole number ≥ 1) entries');
  });
  it('train flags fill the run config in order', () => {
    const c = configFromFlags({ 'rank-pattern': 'h\\.0\\.attn\\.c_attn=16, c_attn=2', 'alpha-pattern': 'c_fc=3' });
    expect([c.lora?.rankPattern, c.lora?.alphaPattern]).toEqual([['h\\.0\\.attn\\.c_attn=16', 'c_attn=2'], ['c_fc=3']]);
  });
});

describe('model card', () => {
  it('lists the rank and alpha patterns under the LoRA configuration', () => {
    const md = factsMarkdown({ baseModel: 'gpt2-tiny', version: 'x', lora: { r: 4, alpha: 8, dropout: 0, targets: ['c_attn'], rslora: false, rankPattern: { '1\\.attn\\.c_attn': 2, c_attn: 6 }, alphaPattern: { c_attn: 3 } } });
    expect(md).toContain('Per module, rank_pattern (r): `1\\.attn\\.c_attn` → 2, `c_attn` → 6 (the first matching key wins).');
    expect(md).toContain('Per module, alpha_pattern (alpha): `c_attn` → 3');
  });
});
