// Compare's configs (host/resolvedRunConfig.ts, commands/runs.ts compareOrder): resolved as training
// resolves them, so PEFT's default targets and the same targets spelled out read alike (reference:
// PEFT's defaults, q_proj + v_proj for Llama); the older run on the left whatever the pick order.
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';

vi.mock('vscode', () => ({}));
const { compareOrder } = await import('../../src/commands/runs');
const { configDocument, resolveRunConfigOf } = await import('../../src/host/resolvedRunConfig');
import type { RunSummary } from '../../src/protocol/panel';

const LLAMA = path.join(__dirname, '..', 'fixtures', 'llama-tiny-gqa-bf16');
const raw = (lora: Record<string, unknown>, model = LLAMA) => ({ model, data: '/w/train.jsonl', workspace: '/w', runsDir: '.lora-lab/runs', lora });

describe('resolved run configs for Compare', () => {
  it("a run with the default targets and one with the same targets spelled out (in another order) show no difference", () => {
    const byDefault = configDocument(raw({ r: 8 }));
    const spelled = configDocument(raw({ r: 8, targetModules: ['v_proj', 'q_proj'] }));
    expect(spelled).toBe(byDefault);
    expect(resolveRunConfigOf(raw({ r: 8 })).config!.lora.targetModules).toEqual(['q_proj', 'v_proj']);
    // Defaults filled from the run-config table, old keys under today's names.
    expect(resolveRunConfigOf({ ...raw({}), training: { lr: 1e-3 } }).config!.training).toMatchObject({ learningRate: 1e-3, epochs: 3, schedule: 'cosine' });
  });

  it('a model folder that is gone: said in a comment at the top, the rest still resolved and shown', () => {
    const gone = path.join(__dirname, 'no-such-model');
    const doc = configDocument(raw({ r: 4 }, gone));
    expect(doc.split('\n')[0]).toMatch(/^\/\/ the model folder .*no-such-model cannot be read .*targetModules is left unset/);
    const json = JSON.parse(doc.split('\n').filter((l) => !l.startsWith('//')).join('\n'));
    expect(json.lora).toEqual({ r: 4, alpha: 16, dropout: 0.05, useRslora: false, useDora: false, init: 'kaiming' });
    // Not a run config at all: shown as it is, with the reason.
    expect(configDocument({ lora: 1 })).toMatch(/^\/\/ run\.json's config is not valid/);
  });

  it('the rows each run left out by exclusion lists are in its document (runs that differ only there diff there)', () => {
    const excluded = { file: '/w/train.jsonl.lora-lab-exclude.json', rows: 2, lines: [3, 9] };
    const doc = configDocument(raw({ r: 8 }), undefined, { excluded });
    expect(JSON.parse(doc).excludedRows).toEqual({ '/w/train.jsonl': [3, 9] });
    expect(JSON.parse(configDocument(raw({ r: 8 }))).excludedRows).toEqual({});
  });

  it('the older run goes on the left, the newer on the right, whichever was picked first; labels say what differs', () => {
    const s = (id: string, createdAt: string, r: number): RunSummary => ({
      id, dir: `/w/.lora-lab/runs/${id}`, name: 'train.jsonl', status: 'completed', createdAt, model: LLAMA, dataset: '/w/train.jsonl',
      config: resolveRunConfigOf(raw({ r })).config,
    });
    const older = s('20250301-101500-train', '2025-03-01T10:15:00.000Z', 8);
    const newer = s('20250302-093000-train', '2025-03-02T09:30:00.000Z', 16);
    for (const picked of [[newer, older], [older, newer]] as const) {
      const o = compareOrder(picked);
      expect([o.older.id, o.newer.id, o.olderLabel, o.newerLabel]).toEqual([older.id, newer.id, 'r8', 'r16']);
    }
  });
});
