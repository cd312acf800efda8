// The run-config field table (src/protocol/runConfig.ts) is the one source of every setting,
// flag, default, check and help text: package.json's contributes.configuration, README's settings
// table and `lora-lab train --help` must say what it says, and the defaults must be the values
// the engine had before the table (commit b8d8253's core/runConfig.ts).
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ALL_LINEAR, fieldPath, fieldRule, flagHelp, NON_RUN_SETTINGS, RUN_FIELDS, runConfigProblems, settingKey, settingSchema, type RunConfig,
} from '../../src/protocol/runConfig';
import { resolveRunConfig, RunConfigError } from '../../src/core/runConfig';
import { LORA_DEFAULTS } from '../../src/core/lora/config';
import { configFromFlags } from '../../src/cli/train';
import { CliUsageError } from '../../src/cli/common';
import { cli } from './helpers/cli';

const ROOT = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const contributed: Record<string, Record<string, unknown>> = pkg.contributes.configuration.properties;
const settingFields = RUN_FIELDS.filter((f) => f.setting);

describe('package.json contributes.configuration equals the field table', () => {
  it.each(settingFields.map((f) => [settingKey(f), f] as const))('%s: same type, default, enum, bounds and description', (key, f) => {
    expect(contributed[key], `${key} is missing from package.json; add ${JSON.stringify(settingSchema(f))}`).toBeDefined();
    expect(contributed[key]).toEqual(settingSchema(f));
  });

  it('no loraLab setting without a field, except the listed non-run settings (paths, panel)', () => {
    const expected = [...settingFields.map(settingKey), ...NON_RUN_SETTINGS].sort();
    expect(Object.keys(contributed).sort()).toEqual(expected);
  });

  it("README's settings table shows each setting's default and description as package.json does", () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const f of settingFields) {
      const s = settingSchema(f);
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${settingKey(f)}\` |`));
      expect(row, `README.md has no settings row for ${settingKey(f)}`).toBeDefined();
      expect(row).toBe(`| \`${settingKey(f)}\` | \`${JSON.stringify(s.default)}\` | ${s.description} |`.replace(/`"([^`]*)"`/, '`$1`'));
    }
  });
});

describe('the field table', () => {
  it('covers every leaf of RunConfig (compile-time list) and nothing else', () => {
    const leaves: { [G in 'lora' | 'training' | 'dataOptions']: Record<keyof Required<RunConfig[G]>, true> } & { run: Record<'backend' | 'threads' | 'memoryLimitBytes', true> } = {
      lora: { r: true, alpha: true, dropout: true, targetModules: true, useRslora: true, useDora: true, init: true, layers: true, rankPattern: true, alphaPattern: true },
      training: {
        learningRate: true, schedule: true, warmupRatio: true, warmupSteps: true, epochs: true, maxSteps: true, batchSize: true, gradientAccumulation: true,
        maxSeqLen: true, maxGradNorm: true, weightDecay: true, loraplusLrRatio: true, beta1: true, beta2: true, eps: true, seed: true, reportEvery: true, evalEvery: true,
        checkpointEvery: true, earlyStoppingPatience: true, groupByLength: true, baseDropout: true,
      },
      dataOptions: { badRows: true, maxRowBytes: true, validationFraction: true, textColumn: true, promptColumn: true, completionColumn: true },
      run: { backend: true, threads: true, memoryLimitBytes: true },
    };
    const all = Object.entries(leaves).flatMap(([g, ks]) => Object.keys(ks).map((k) => (g === 'run' ? k : `${g}.${k}`)));
    expect(RUN_FIELDS.map(fieldPath).sort()).toEqual(all.sort());
  });

  it('keys and flags are unique (the form and the CLI address fields by them)', () => {
    const keys = RUN_FIELDS.map((f) => f.key);
    expect(new Set(keys).size).toBe(keys.length);
    const flags = RUN_FIELDS.flatMap((f) => (f.flag ? [f.flag] : []));
    expect(new Set(flags).size).toBe(flags.length);
  });

  it('each field has help, a label, and either a default that passes its own check or words for "unset"', () => {
    for (const f of RUN_FIELDS) {
      expect(f.help, fieldPath(f)).toMatch(/^\S.*[^.]$/);
      expect(f.label, fieldPath(f)).not.toBe('');
      expect((f.default === undefined) !== (f.whenUnset === undefined), `${fieldPath(f)}: a default or whenUnset, not both`).toBe(true);
    }
    expect(runConfigProblems(resolveRunConfig({ model: 'm', data: 'd' }))).toEqual([]);
  });

  it('records PEFT LoraConfig names for the LoRA fields and HF TrainingArguments names for the training fields', () => {
    const names = Object.fromEntries(RUN_FIELDS.map((f) => [fieldPath(f), f.peft ?? f.trainer]));
    expect(names).toMatchObject({
      'lora.r': 'r', 'lora.alpha': 'lora_alpha', 'lora.dropout': 'lora_dropout', 'lora.targetModules': 'target_modules', 'lora.useRslora': 'use_rslora', 'lora.useDora': 'use_dora',
      'lora.init': 'init_lora_weights', 'lora.layers': 'layers_to_transform',
      'training.learningRate': 'learning_rate', 'training.batchSize': 'per_device_train_batch_size', 'training.gradientAccumulation': 'gradient_accumulation_steps',
      'training.epochs': 'num_train_epochs', 'training.maxSteps': 'max_steps', 'training.warmupSteps': 'warmup_steps', 'training.warmupRatio': 'warmup_ratio',
      'training.schedule': 'lr_scheduler_type', 'training.weightDecay': 'weight_decay', 'training.maxGradNorm': 'max_grad_norm', 'training.beta1': 'adam_beta1',
      'training.beta2': 'adam_beta2', 'training.eps': 'adam_epsilon', 'training.seed': 'seed', 'training.evalEvery': 'eval_steps', 'training.checkpointEvery': 'save_steps',
      'training.reportEvery': 'logging_steps', 'training.groupByLength': 'group_by_length',
    });
  });

  it('defaults are the values before the table (b8d8253: core/runConfig.ts DEFAULT_LORA / DEFAULT_TRAINING), under the new keys', () => {
    const c = resolveRunConfig({ model: 'm', data: 'd' });
    expect(c.lora).toEqual({ r: 8, alpha: 16, dropout: 0.05, useRslora: false, useDora: false /* added later (issue 18) */, init: 'kaiming' });
    expect(c.training).toEqual({
      learningRate: 0.0002, schedule: 'cosine', warmupRatio: 0.05, epochs: 3, batchSize: 4, gradientAccumulation: 1, maxSeqLen: 256, maxGradNorm: 1,
      weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, seed: 42, reportEvery: 1, earlyStoppingPatience: 0, groupByLength: false,
      baseDropout: true /* added later (issue 18): the model's own dropout in training, as model.train() */,
    });
    expect(c.dataOptions).toEqual({ badRows: 'fail', validationFraction: 0.1, maxRowBytes: 8 * 1024 * 1024 /* added later (issue 13) */ });
    expect(c.backend).toBe('auto');
    expect(LORA_DEFAULTS).toEqual({ r: 8, loraAlpha: 16, loraDropout: 0.05, useRslora: false, useDora: false, initLoraWeights: true, bias: 'none' });
  });

  it('checks in words: the messages name the field, the rule and the value', () => {
    const rule = (p: string) => fieldRule(RUN_FIELDS.find((f) => fieldPath(f) === p)!);
    expect(rule('lora.r')).toBe('a whole number ≥ 1');
    expect(rule('lora.dropout')).toBe('a number in [0, 1)');
    expect(rule('training.learningRate')).toBe('a number in (0, 1)');
    expect(rule('training.schedule')).toBe('one of constant, linear, cosine');
    expect(() => resolveRunConfig({ model: 'm', data: 'd', lora: { r: 0 }, training: { learningRate: 5 } })).toThrow(RunConfigError);
    expect(() => resolveRunConfig({ model: 'm', data: 'd', lora: { r: 0 }, training: { learningRate: 5 } })).toThrow(
      'lora.r must be a whole number ≥ 1, got 0; training.learningRate must be a number in (0, 1), got 5',
    );
  });

  it('a hand-edited run.json config that is not the right shape says which part is wrong', () => {
    expect(() => resolveRunConfig(7)).toThrow('a run config must be a JSON object, got 7');
    expect(() => resolveRunConfig({ model: 'm', data: 'd', training: 5 })).toThrow('training must be an object, got 5');
    expect(() => resolveRunConfig({ model: 'm', data: 'd', valid: 3 })).toThrow('valid must be a string, got 3');
    expect(() => resolveRunConfig({ model: 'm', data: 'd', lora: { targetModules: [] } })).toThrow(/lora.targetModules must be a list of module names/);
  });
});

describe('lora-lab train flags come from the table', () => {
  it('--help lists every field flag with its default (or what unset means)', async () => {
    const { code, out } = await cli(['train', '--help']);
    expect(code).toBe(0);
    for (const f of RUN_FIELDS.filter((x) => x.flag)) {
      const line = out.split('\n').find((l) => l.trimStart().startsWith(`--${f.flag} `) || l.trim() === `--${f.flag}` || l.trimStart().startsWith(`--${f.flag}  `));
      expect(line, `--${f.flag} missing from train --help`).toBeDefined();
      expect(line).toContain(`(default: ${flagHelp(f).default})`);
      expect(line).toContain(f.help);
    }
    expect(out).toMatch(/--lr <rate>\s+Peak learning rate \(AdamW\), e\.g\. 2e-4 \(default: 0\.0002\)/);
    expect(out).toMatch(/--max-steps <n>\s+Stop after this many optimizer steps \(default: train for the given epochs\)/);
  });

  it('flags parse by the field kind: numbers, lists, layer ranges, MiB', () => {
    const c = configFromFlags({ rank: '16', lr: '1e-3', targets: 'q_proj, v_proj', layers: '0, 2-3', rslora: true, 'memory-limit-mb': '512', 'on-bad-rows': 'skip', 'warmup-ratio': '0.1' });
    expect(c.lora).toMatchObject({ r: 16, targetModules: ['q_proj', 'v_proj'], layers: [0, 2, 3], useRslora: true });
    expect(c.training).toMatchObject({ learningRate: 1e-3, warmupRatio: 0.1 });
    expect(c.dataOptions).toMatchObject({ badRows: 'skip' });
    expect(c.memoryLimitBytes).toBe(512 * 1024 * 1024);
    expect(configFromFlags({ targets: ALL_LINEAR }).lora?.targetModules).toBe(ALL_LINEAR);
  });

  it('lora-lab params reads --rank, --targets and --layers the same way, with the same default rank', async () => {
    const model = path.join(ROOT, 'test', 'fixtures', 'gpt2-tiny');
    const { code, out } = await cli(['params', '--model', model, '--layers', '0-1', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ r: 8, layersToTransform: [0, 1] });
    expect((await cli(['params', '--model', model, '--rank', '0'])).err).toContain('--rank must be a whole number ≥ 1, got "0"');
  });

  it('a bad flag value is a usage error naming the flag and its rule', () => {
    expect(() => configFromFlags({ rank: '0' })).toThrow(CliUsageError);
    // A default-on boolean: absent leaves the default (on), --no-base-dropout turns it off.
    expect(configFromFlags({}).training?.baseDropout).toBeUndefined();
    expect(configFromFlags({ 'no-base-dropout': true }).training?.baseDropout).toBe(false);
    expect(resolveRunConfig(configFromFlags({ model: 'm', data: 'd', 'no-base-dropout': true })).training.baseDropout).toBe(false);
    expect(() => configFromFlags({ rank: '0' })).toThrow('--rank must be a whole number ≥ 1, got "0"');
    expect(() => configFromFlags({ schedule: 'step' })).toThrow('--schedule must be one of constant, linear, cosine, got "step"');
    expect(() => configFromFlags({ layers: 'x' })).toThrow(/--layers: "x" is not a layer index/);
  });
});
