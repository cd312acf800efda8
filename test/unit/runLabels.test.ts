// Run labels (src/protocol/runLabels.ts): what differs among the runs shown, in the table's field
// order under short names; the user's name first; the time when nothing else tells runs apart.
import { describe, expect, it } from 'vitest';
import { decodeRunConfig, type RunConfig, type RunConfigInput } from '../../src/protocol/runConfig';
import { runLabelMap, runLabels, shortNumber, withSource, type LabelledRun } from '../../src/protocol/runLabels';

function config(over: RunConfigInput = {}): RunConfig {
  const d = decodeRunConfig({ model: '/m/gpt2', data: '/w/data/shakespeare.jsonl', workspace: '/w', runsDir: '.lora-lab/runs', ...over });
  if (!d.ok) throw new Error(d.error);
  return d.value;
}

const run = (id: string, over: RunConfigInput = {}): LabelledRun => ({ id, name: 'shakespeare.jsonl', config: config(over) });

describe('runLabels', () => {
  it('names only the fields that differ: r, alpha, lr, targets and the dataset, as "r16 α32 lr5e-3 all-linear devil.jsonl"', () => {
    const a = run('20250301-101500-shakespeare');
    const b = run('20250302-093000-devil', { data: '/w/data/devil.jsonl', lora: { r: 16, alpha: 32, targetModules: 'all-linear' }, training: { learningRate: 5e-3 } });
    expect(runLabels([a, b])).toEqual(['r8 α16 lr2e-4 default targets shakespeare.jsonl', 'r16 α32 lr5e-3 all-linear devil.jsonl']);
  });

  it('runs with the same config are told apart by their creation time; one run alone by its time', () => {
    const a = run('20250301-101500-shakespeare');
    const b = run('20250302-093000-shakespeare');
    expect(runLabels([a, b])).toEqual(['2025-03-01 10:15', '2025-03-02 09:30']);
    expect(runLabels([a])).toEqual(['2025-03-01 10:15']);
    // Two of three alike: the third's difference, and the time for the two.
    const c = run('20250303-080000-shakespeare', { training: { epochs: 5 } });
    expect(runLabels([a, b, c])).toEqual(['ep3 · 2025-03-01 10:15', 'ep3 · 2025-03-02 09:30', 'ep5']);
  });

  it("keeps the user's run name first; run.json's default name (the dataset file) is not one", () => {
    const a = run('20250301-101500-baseline', { name: 'baseline' });
    const b = run('20250302-093000-shakespeare', { lora: { r: 4 } });
    expect(runLabels([a, b])).toEqual(['baseline r8', 'r4']);
    expect(runLabels([a])).toEqual(['baseline']);
  });

  it('the LoRA family reads as people name it: DoRA, the init by its value, LoRA+ with its ratio, base dropout', () => {
    const a = run('a', { lora: { useDora: true }, training: { loraplusLrRatio: 16 } });
    const b = run('b', { lora: { init: 'pissa_niter_4' }, training: { baseDropout: false } });
    expect(runLabels([a, b])).toEqual(['DoRA kaiming LoRA+16 base dropout', 'no DoRA pissa_niter_4 no base dropout']);
  });

  it('walks the field table generically: other fields read key=value, booleans by name, targets as a set', () => {
    const a = run('a', { lora: { dropout: 0.1, targetModules: ['v_proj', 'q_proj'] }, training: { schedule: 'linear', maxSteps: 500 } });
    const b = run('b', { lora: { useRslora: true, targetModules: ['q_proj', 'v_proj'] }, training: { batchSize: 8, maxSeqLen: 512 } });
    expect(runLabels([a, b])).toEqual(['dropout=0.1 no rsLoRA linear steps500 batch4 seq256', 'dropout=0.05 rsLoRA cosine batch8 seq512']);
  });

  it('leaves out where and how a run ran (backend, threads, logging), and tells same-named files apart by folder', () => {
    const a = run('a', { backend: 'wasm', training: { reportEvery: 10 } });
    const b = run('b', { backend: 'cpu', data: '/w/other/shakespeare.jsonl' });
    expect(runLabels([a, b])).toEqual(['data/shakespeare.jsonl', 'other/shakespeare.jsonl']);
  });

  it('without a readable config: the dataset and model files still tell runs apart', () => {
    const a: LabelledRun = { id: '20250301-101500-x', name: 'x.jsonl', dataset: '/w/x.jsonl', model: '/m/gpt2' };
    const b: LabelledRun = { id: '20250302-101500-y', name: 'y.jsonl', dataset: '/w/y.jsonl', model: '/m/gpt2' };
    expect(runLabelMap([a, b])).toEqual(new Map([[a.id, 'x.jsonl'], [b.id, 'y.jsonl']]));
  });

  it('an imported TRL run (run.json source "trl") never reads as a local run: "(TRL)" ends its label unless its name says TRL already', () => {
    const local = run('20250301-101500-shakespeare');
    const trl: LabelledRun = { ...run('20250302-093000-shakespeare'), source: 'trl' };
    // Same config: the times tell them apart, the engine tells which is which.
    expect(runLabels([local, trl])).toEqual(['2025-03-01 10:15', '2025-03-02 09:30 (TRL)']);
    expect(runLabels([trl])).toEqual(['2025-03-02 09:30 (TRL)']);
    // lora-lab import's default name "<source run id> (TRL)" is not marked twice; a --name of the user's is.
    const named: LabelledRun = { ...run('20250303-080000-x', { name: '20250301-101500-shakespeare (TRL)', lora: { r: 16 } }), source: 'trl' };
    expect(runLabels([local, named])).toEqual(['r8', '20250301-101500-shakespeare (TRL) r16']);
    const cluster: LabelledRun = { ...run('20250304-080000-x', { name: 'cluster', lora: { r: 16 } }), source: 'trl' };
    expect(runLabels([local, cluster])).toEqual(['r8', 'cluster r16 (TRL)']);
    expect([withSource('a', undefined), withSource('CONTROL', 'trl'), withSource('x TRL', 'trl')]).toEqual(['a', 'CONTROL (TRL)', 'x TRL']);
  });

  it('writes learning rates as people do', () => {
    expect([5e-3, 2e-4, 1.5e-4, 0.1, 1e-8, 3].map(shortNumber)).toEqual(['5e-3', '2e-4', '1.5e-4', '0.1', '1e-8', '3']);
  });
});
