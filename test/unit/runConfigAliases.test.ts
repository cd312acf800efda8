// run.json written before the field table (test/fixtures/run-json-before-rename/run.json, made by
// commit b8d8253's resolveRunConfig) still resumes and evaluates: its old keys are read through
// RUN_CONFIG_ALIASES, with the same values.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeRunConfig, RUN_CONFIG_ALIASES, upgradeRunConfigKeys, type RunConfigInput } from '../../src/protocol/runConfig';
import { resolveRunConfig } from '../../src/core/runConfig';
import { readRunRecord } from '../../src/core/runs/record';
import { configFromFlags } from '../../src/cli/train';

const OLD_RUN = path.join(__dirname, '..', 'fixtures', 'run-json-before-rename');

describe('old run.json keys', () => {
  it('the fixture uses every old key the alias map lists', () => {
    const raw = JSON.parse(fs.readFileSync(path.join(OLD_RUN, 'run.json'), 'utf8')).config;
    for (const old of Object.keys(RUN_CONFIG_ALIASES)) {
      const [g, k] = old.split('.');
      expect(raw[g], old).toHaveProperty(k);
    }
  });

  it('an old run.json resolves with the same values under the new keys', () => {
    const cfg = resolveRunConfig(readRunRecord(OLD_RUN).config as RunConfigInput);
    expect(cfg.lora).toEqual({ r: 4, alpha: 8, dropout: 0.05, useRslora: false, useDora: false, init: 'kaiming', targetModules: ['c_attn', 'c_proj'], layers: [0, 1] });
    expect(cfg.training).toMatchObject({ learningRate: 5e-4, gradientAccumulation: 2, earlyStoppingPatience: 3, maxSteps: 40, evalEvery: 10, batchSize: 2 });
    expect(cfg.dataOptions).toEqual({ badRows: 'skip', validationFraction: 0.2, maxRowBytes: 8 * 1024 * 1024 });
    expect(cfg.backend).toBe('wasm');
    // No old key survives into the resolved config (and so into a resumed run's run.json).
    expect(JSON.stringify(cfg)).not.toMatch(/"(lr|gradAccum|patience|policy|validFraction|targets)"/);
  });

  it('the new key wins when a file has both; the input is not modified', () => {
    const input = { training: { lr: 1e-3, learningRate: 2e-3 } } as unknown as RunConfigInput;
    expect(upgradeRunConfigKeys(input).training).toEqual({ learningRate: 2e-3 });
    expect(input.training).toEqual({ lr: 1e-3, learningRate: 2e-3 });
  });

  it('lora-lab train --config accepts an old config file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lab-oldcfg-'));
    try {
      const file = path.join(dir, 'config.json');
      fs.writeFileSync(file, JSON.stringify(JSON.parse(fs.readFileSync(path.join(OLD_RUN, 'run.json'), 'utf8')).config));
      const c = configFromFlags({ config: file, 'grad-accum': '4' });
      expect(c.training).toMatchObject({ learningRate: 5e-4, gradientAccumulation: 4 });
      expect(c.lora?.targetModules).toEqual(['c_attn', 'c_proj']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('decodeRunConfig (the panel reads run.json with it)', () => {
  it('decodes the old run.json config to the same config resolveRunConfig makes', () => {
    const raw = readRunRecord(OLD_RUN).config;
    const d = decodeRunConfig(raw);
    expect(d.ok && d.value).toEqual(JSON.parse(JSON.stringify(resolveRunConfig(raw as RunConfigInput))));
  });

  it('gives the reason for a malformed config', () => {
    expect(decodeRunConfig(7)).toEqual({ ok: false, error: 'the run config is not a JSON object' });
    expect(decodeRunConfig({ data: 'd', workspace: '/w', runsDir: 'r' })).toMatchObject({ ok: false, error: '"model" is missing, expected a path' });
    expect(decodeRunConfig({ model: 'm', data: 'd', workspace: '/w', runsDir: 'r', training: { lr: -1 } })).toEqual({
      ok: false, error: 'training.learningRate must be a number in (0, 1), got -1',
    });
  });
});
