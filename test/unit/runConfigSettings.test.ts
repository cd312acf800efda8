// host/settings.ts reads every run setting through the field table: with VS Code's defaults
// (package.json's contributes.configuration) the run resolves to the engine's defaults, 0 steps and
// an empty target list mean "automatic", and a user's value reaches the RunConfig under the same key.
import { describe, expect, it, vi } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
const contributed: Record<string, { default: unknown }> = pkg.contributes.configuration.properties;
const user: Record<string, unknown> = {};

// VS Code's configuration as the extension host sees it: the user's values over package.json's defaults.
vi.mock('vscode', () => ({
  workspace: {
    getConfiguration: (section?: string) => ({
      get: (key: string, fallback?: unknown) => {
        const full = section ? `${section}.${key}` : key;
        return full in user ? user[full] : full in contributed ? contributed[full].default : fallback;
      },
    }),
  },
}));

const { runConfigFromSettings } = await import('../../src/host/settings');
const { resolveRunConfig } = await import('../../src/core/runConfig');

describe('settings → run config', () => {
  it("untouched settings give the engine's defaults (package.json's defaults are the table's)", () => {
    for (const k of Object.keys(user)) delete user[k];
    const fromSettings = resolveRunConfig(runConfigFromSettings('/m', '/d', '/ws'));
    const plain = resolveRunConfig({ model: '/m', data: '/d', workspace: '/ws', runsDir: '.lora-lab/runs' });
    expect(fromSettings).toEqual(plain);
    expect(fromSettings.training.maxSteps).toBeUndefined();
    expect(fromSettings.lora.targetModules).toBeUndefined();
  });

  it('a setting reaches the field of the same name; all-linear in the list means all-linear', () => {
    Object.assign(user, {
      'loraLab.training.learningRate': 1e-3, 'loraLab.training.gradientAccumulation': 4, 'loraLab.training.earlyStoppingPatience': 2,
      'loraLab.training.maxSteps': 30, 'loraLab.lora.targetModules': ['c_fc', 'all-linear'], 'loraLab.data.badRows': 'skip', 'loraLab.backend': 'wasm',
    });
    const c = resolveRunConfig(runConfigFromSettings('/m', '/d', '/ws'));
    expect(c.training).toMatchObject({ learningRate: 1e-3, gradientAccumulation: 4, earlyStoppingPatience: 2, maxSteps: 30 });
    expect(c.lora.targetModules).toBe('all-linear');
    expect(c.dataOptions.badRows).toBe('skip');
    expect(c.backend).toBe('wasm');
  });

  it('loraLab.evalCases names the case file of the end-of-run evaluation, relative to the workspace folder', () => {
    for (const k of Object.keys(user)) delete user[k];
    expect(runConfigFromSettings('/m', '/d', '/ws').evals).toBeUndefined();
    user['loraLab.evalCases'] = 'evals/devil.evals.jsonl';
    expect(resolveRunConfig(runConfigFromSettings('/m', '/d', '/ws')).evals).toBe(path.resolve('/ws/evals/devil.evals.jsonl'));
    user['loraLab.evalCases'] = '/abs/x.evals.jsonl';
    expect(runConfigFromSettings('/m', '/d', '/ws').evals).toBe('/abs/x.evals.jsonl');
    delete user['loraLab.evalCases'];
  });
});
