// Issue 18 item 6: every field PEFT's LoraConfig (the pinned PEFT, scripts/requirements-ref.txt)
// writes into adapter_config.json is honoured, ignored as harmless, or refused by name. The field
// list and PEFT's own default adapter come from the real library (scripts/gen_peft_fields.py,
// test/fixtures/peft/); this test needs no Python.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/core/hf/config';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, checkPeftAdapter, parseAdapterConfig, PEFT_FORMAT_VERSION } from '../../src/core/peft/adapterFolder';
import { LORA_CONFIG_FIELDS } from '../../src/core/peft/configFields';

const PEFT = path.join(__dirname, '..', 'fixtures', 'peft');
const FIELDS = JSON.parse(fs.readFileSync(path.join(PEFT, 'loraconfig-fields.json'), 'utf8')) as {
  peft_version: string;
  fields: { name: string; default: unknown }[];
  written: string[];
};
const DEFAULTS_DIR = path.join(PEFT, 'defaults-gpt2-tiny');
const defaults = () => JSON.parse(fs.readFileSync(path.join(DEFAULTS_DIR, ADAPTER_CONFIG), 'utf8')) as Record<string, unknown>;
const GPT2 = parseConfig(JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'gpt2-tiny', 'config.json'), 'utf8')));

/** A folder with PEFT's default adapter, its config edited. */
function edited(edit: (c: Record<string, unknown>) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-fields-'));
  const c = defaults();
  edit(c);
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG), JSON.stringify(c));
  fs.copyFileSync(path.join(DEFAULTS_DIR, ADAPTER_WEIGHTS), path.join(dir, ADAPTER_WEIGHTS));
  return dir;
}

/** A value PEFT would not write by default for a field whose default is `d`. */
function nonDefault(name: string, d: unknown): unknown {
  if (name === 'bias') return 'lora_only';
  if (d === false || d === null) return name.endsWith('_config') ? { x: 1 } : name === 'alora_invocation_tokens' ? [1, 2] : true;
  if (Array.isArray(d) || (typeof d === 'object' && d !== null)) return Array.isArray(d) ? ['x'] : { x: 1 };
  return 'something-else';
}

describe(`adapter_config.json fields of PEFT ${FIELDS.peft_version} (dataclasses.fields(peft.LoraConfig))`, () => {
  it('the fixture is the pinned PEFT version LoRA Lab writes', () => {
    expect(FIELDS.peft_version).toBe(PEFT_FORMAT_VERSION);
    expect(FIELDS.fields.length).toBeGreaterThan(30);
  });

  it.each(FIELDS.fields.map((f) => [f.name]))('%s is in the table (honoured, ignored with a reason, or refused)', (name) => {
    const rule = LORA_CONFIG_FIELDS[name];
    expect(rule, `${name} missing from src/core/peft/configFields.ts`).toBeDefined();
    expect(rule.kind === 'ignored' ? rule.why : rule.what).toMatch(/\w{4}/);
  });

  it('every key PEFT writes (LoraConfig().to_dict()) is a LoraConfig field', () => {
    for (const k of FIELDS.written) expect(FIELDS.fields.map((f) => f.name)).toContain(k);
  });

  it("each refused field at PEFT's default passes, and at a non-default value is refused naming the field and the file", () => {
    const refused = FIELDS.fields.filter((f) => LORA_CONFIG_FIELDS[f.name]?.kind === 'refused');
    expect(refused.map((f) => f.name)).toEqual(expect.arrayContaining([
      'alora_invocation_tokens', 'target_parameters', 'trainable_token_indices', 'layer_replication', 'modules_to_save',
      'bias', 'megatron_config', 'loftq_config', 'eva_config', 'corda_config', 'lora_bias', 'use_qalora',
    ]));
    for (const f of refused) {
      const rule = LORA_CONFIG_FIELDS[f.name];
      expect(rule.kind === 'refused' && rule.isDefault(f.default), `${f.name}'s PEFT default ${JSON.stringify(f.default)}`).toBe(true);
      const v = nonDefault(f.name, f.default);
      const c = { ...defaults(), [f.name]: v };
      expect(() => parseAdapterConfig(c, '/x/adapter_config.json'), `${f.name}=${JSON.stringify(v)}`).toThrow(
        new RegExp(`^/x/adapter_config\\.json: ${f.name}=.* is not supported by LoRA Lab`),
      );
    }
  });

  it.each(['pissa', 'pissa_niter_4', 'olora', 'eva', 'loftq', 'corda', 'orthogonal', 'lora_ga'])('init_lora_weights=%j is refused by name', (init) => {
    expect(() => parseAdapterConfig({ ...defaults(), init_lora_weights: init }, 'a/adapter_config.json')).toThrow(
      new RegExp(`a/adapter_config\\.json: init_lora_weights="${init}" is not supported by LoRA Lab \\(supported: true, false, "gaussian"\\)`),
    );
  });

  it('init_lora_weights true, false and "gaussian" are read (the saved weights are a plain adapter)', () => {
    for (const init of [true, false, 'gaussian']) expect(() => parseAdapterConfig({ ...defaults(), init_lora_weights: init }, 'f')).not.toThrow();
  });

  it('other PEFT methods and task types are refused first, by name', () => {
    expect(() => parseAdapterConfig({ peft_type: 'IA3', feedforward_modules: ['c_fc'] }, 'f')).toThrow(/peft_type="IA3" is not supported/);
    expect(() => parseAdapterConfig({ ...defaults(), task_type: 'SEQ_CLS' }, 'f')).toThrow(/task_type="SEQ_CLS" is not supported/);
  });

  it("PEFT's own save_pretrained of LoraConfig(task_type='CAUSAL_LM') loads with no refusal and no warning", () => {
    const parsed = parseAdapterConfig(defaults(), DEFAULTS_DIR);
    expect(parsed.warnings).toEqual([]);
    expect(parsed.config).toMatchObject({ r: 8, loraAlpha: 8, loraDropout: 0, targetModules: ['c_attn'], useRslora: false, initLoraWeights: true });
    expect(checkPeftAdapter(DEFAULTS_DIR, GPT2).targetModules).toEqual(['c_attn']);
  });

  it('unknown fields (a newer PEFT): default-looking values warn naming them; others are refused naming them', () => {
    const dir = edited((c) => Object.assign(c, { future_flag: false, future_config: null }));
    const parsed = parseAdapterConfig(JSON.parse(fs.readFileSync(path.join(dir, ADAPTER_CONFIG), 'utf8')), path.join(dir, ADAPTER_CONFIG));
    expect(parsed.warnings).toEqual([expect.stringMatching(/adapter_config\.json: ignoring future_flag, future_config: not LoraConfig fields of PEFT 0\.21\.2/)]);
    expect(() => checkPeftAdapter(edited((c) => (c.use_future_variant = true)), GPT2)).toThrow(
      /adapter_config\.json: use_future_variant=true is not a LoraConfig field of PEFT 0\.21\.2 .*remove the key/,
    );
  });
});
