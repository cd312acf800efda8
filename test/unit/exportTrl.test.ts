// `lora-lab export --to trl` without Python: the bundle's files, the effective-batch split, the
// config mapping by the run-config table's PEFT / Trainer names, and the data rows' labels.
// References: HF's ignore index -100 where LoRA Lab's loss weight is 0 (labels shift inside the
// model as LoRA Lab's weights do); src/core/train/trainer.ts stepsPerEpoch and session.ts's
// resolved warm-up / eval cadence; PEFT LoraConfig and TRL SFTConfig argument names. The check
// that train.py sees the same tokens (its base loss equals eval.json's) is in npm run test:interop.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareData, type Example } from '../../src/core/data';
import { batchSplits, BUNDLE_MANIFEST, checkBundleTarget, ExportError, microBatchPlan, trlPlan, trlRow, validWorldSizes, writeTrlBundle } from '../../src/core/export';
import { pyBatchSplits, renderTrainPy } from '../../src/core/export/trainPy';
import { pyLiteral, TRL_RENAMES } from '../../src/core/export/trlPlan';
import { LoraTokenizer } from '../../src/core/hf/tokenizer';
import { dataOptionsOf, resolveRunConfig } from '../../src/core/runConfig';
import { stepsPerEpoch } from '../../src/core/train/trainer';
import { stepsPerEpoch as exportStepsPerEpoch } from '../../src/core/export/trlPlan';
import { RUN_FIELDS } from '../../src/protocol/runConfig';
import { gpt2TokenizerConfig, gpt2TokenizerJson } from './helpers/gpt2TokenizerJson';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-export-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const config = (over: Record<string, unknown> = {}) =>
  resolveRunConfig({ model: '/m', data: '/d/train.jsonl', lora: { r: 4, alpha: 12, dropout: 0.1, targetModules: ['c_attn', 'c_proj'], useRslora: true, layers: [0, 2] }, training: { learningRate: 3e-4, batchSize: 4, gradientAccumulation: 6, epochs: 2, warmupRatio: 0.1, weightDecay: 0.01, maxGradNorm: 0.5, seed: 7, maxSeqLen: 128, schedule: 'linear' }, ...over });

describe('effective batch split (micro × accumulation × world = the local run’s batch × accumulation)', () => {
  it('holds for every world size that divides the effective batch, with micro ≤ the local micro-batch', () => {
    for (const [effective, local] of [[24, 4], [8, 8], [32, 1], [12, 5], [1, 1], [64, 16]]) {
      for (const world of validWorldSizes(effective)) {
        const p = microBatchPlan(effective, local, world)!;
        expect(p.micro * p.accumulation * world).toBe(effective);
        expect(p.micro).toBeLessThanOrEqual(local);
        expect(p.micro).toBeGreaterThanOrEqual(1);
      }
    }
  });
  it('keeps the local split on one process and moves accumulation to processes first', () => {
    expect(microBatchPlan(24, 4, 1)).toEqual({ micro: 4, accumulation: 6 });
    expect(microBatchPlan(24, 4, 2)).toEqual({ micro: 4, accumulation: 3 });
    expect(microBatchPlan(24, 4, 8)).toEqual({ micro: 3, accumulation: 1 });
    expect(microBatchPlan(24, 4, 24)).toEqual({ micro: 1, accumulation: 1 });
  });
  it('refuses a world that does not divide it', () => {
    expect(microBatchPlan(24, 4, 5)).toBeUndefined();
    expect(microBatchPlan(24, 4, 48)).toBeUndefined();
    expect(validWorldSizes(12)).toEqual([1, 2, 3, 4, 6, 12]);
    expect(validWorldSizes(36)).toEqual([1, 2, 3, 4, 6, 9, 12, 18, 36]);
    expect(validWorldSizes(1)).toEqual([1]);
  });
});

/** train.py's BATCH_SPLITS as written: world → [micro, accumulation]. */
function trainPySplits(py: string): Map<number, [number, number]> {
  const block = /^BATCH_SPLITS = \{\n([\s\S]*?)\n\}$/m.exec(py);
  if (!block) throw new Error('train.py has no BATCH_SPLITS table');
  return new Map(block[1].split('\n').map((line) => {
    const m = /^ {4}(\d+): \((\d+), (\d+)\),$/.exec(line);
    if (!m) throw new Error(`BATCH_SPLITS line not understood: ${line}`);
    return [Number(m[1]), [Number(m[2]), Number(m[3])]];
  }));
}

describe("train.py's batch table is the plan's (one rule: trlPlan.ts microBatchPlan)", () => {
  it('for batch 1..8 × accumulation 1..8 (and larger), world 1..16: a row exactly for the worlds that divide the batch, equal to microBatchPlan', () => {
    const cases: [number, number][] = [];
    for (let b = 1; b <= 8; b++) for (let a = 1; a <= 8; a++) cases.push([b, a]);
    cases.push([16, 4], [3, 7], [12, 5], [32, 1], [1, 48]);
    for (const [batchSize, gradientAccumulation] of cases) {
      const plan = trlPlan(config({ training: { batchSize, gradientAccumulation, maxSteps: 3 } }), 10);
      const effective = batchSize * gradientAccumulation;
      const py = renderTrainPy({ plan, runId: 'r', baseModel: '/m', padId: 0, validLossTokens: 1 });
      expect(py).toContain(`EFFECTIVE_BATCH = ${effective} `);
      const table = trainPySplits(py);
      expect([...table.keys()]).toEqual(validWorldSizes(effective));
      for (let world = 1; world <= 16; world++) {
        const want = microBatchPlan(effective, batchSize, world);
        const got = table.get(world);
        expect(got && { micro: got[0], accumulation: got[1] }, `batch ${batchSize} × accumulation ${gradientAccumulation}, world ${world}`).toEqual(want);
        if (got) {
          expect(got[0] * got[1] * world).toBe(effective);
          expect(got[0]).toBeLessThanOrEqual(batchSize);
        }
      }
      // One process keeps the local run's split exactly.
      expect(table.get(1)).toEqual([batchSize, gradientAccumulation]);
    }
  });

  it('train.py computes no split of its own: it only looks WORLD_SIZE up in the table and exits naming the sizes that fit', () => {
    const py = renderTrainPy({ plan: trlPlan(config(), 100), runId: 'r', baseModel: '/m', padId: 0, validLossTokens: 1 });
    expect(py).not.toMatch(/micro_batch_plan|EFFECTIVE_BATCH %|% world|range\(1, EFFECTIVE_BATCH/);
    expect(py).toMatch(/if world not in BATCH_SPLITS:/);
    expect(py).toMatch(/launch with one of \{sorted\(BATCH_SPLITS\)\} processes/);
    expect(pyBatchSplits(batchSplits(6, 2))).toBe('{\n    1: (2, 3),\n    2: (1, 3),\n    3: (2, 1),\n    6: (1, 1),\n}');
    expect(() => pyBatchSplits([])).toThrow(/batch table is empty/);
  });
});

describe('config mapping (RUN_FIELDS peft / trainer names → LoraConfig / SFTConfig)', () => {
  const c = config();
  const plan = trlPlan(c, 100);

  it('steps per epoch equal the trainer’s, and the total, warm-up and eval cadence are resolved as the session does', () => {
    for (const [n, b, a] of [[100, 4, 6], [7, 2, 3], [1, 8, 1], [865, 4, 2]]) expect(exportStepsPerEpoch(n, b, a)).toBe(stepsPerEpoch(n, { batchSize: b, gradAccum: a }));
    expect(plan.totalSteps).toBe(2 * Math.ceil(Math.ceil(100 / 4) / 6)); // 10
    expect(plan.sft.max_steps).toBe(10);
    expect(plan.sft.warmup_steps).toBe(1); // floor(0.1 × 10)
    expect(plan.sft.eval_steps).toBe(1); // round(10 / 10)
    expect(plan.sft.save_steps).toBe(1);
    expect(plan.effectiveBatch).toBe(24);
    expect(trlPlan(config({ training: { maxSteps: 50, warmupSteps: 3, batchSize: 2 } }), 100)).toMatchObject({ totalSteps: 50, warmupSteps: 3, effectiveBatch: 2 });
  });

  it('writes every LoRA field under its PEFT name', () => {
    expect(plan.lora).toEqual({ r: 4, lora_alpha: 12, lora_dropout: 0.1, target_modules: ['c_attn', 'c_proj'], use_rslora: true, use_dora: false, init_lora_weights: true, layers_to_transform: [0, 2], rank_pattern: {}, alpha_pattern: {} });
    expect(trlPlan(config({ lora: { useDora: true } }), 10).lora).toMatchObject({ use_dora: true }); // train.py's LoraConfig(**LORA) trains DoRA too
    expect(trlPlan(config({ lora: { rankPattern: ['1\\.attn\\.c_attn=2', 'c_attn=6'], alphaPattern: ['c_fc=32'] } }), 10).lora).toMatchObject({ rank_pattern: { '1\\.attn\\.c_attn': 2, c_attn: 6 }, alpha_pattern: { c_fc: 32 } });
    expect(pyLiteral({ '1\\.attn': 2, c_attn: 6 })).toBe('{"1\\\\.attn": 2, "c_attn": 6}');
    for (const f of RUN_FIELDS.filter((x) => x.peft)) expect(Object.keys(plan.lora)).toContain(f.peft);
    expect(trlPlan(config({ lora: { init: 'gaussian', targetModules: 'all-linear' } }), 10).lora).toMatchObject({ init_lora_weights: 'gaussian', target_modules: 'all-linear', layers_to_transform: null });
    expect(trlPlan(config({ lora: {} }), 10).lora.target_modules).toBeNull(); // PEFT's default for the architecture
  });

  it('writes every training field under its Trainer name, or the renamed argument of the pinned TRL/transformers', () => {
    expect(plan.sft).toMatchObject({
      learning_rate: 3e-4, lr_scheduler_type: 'linear', weight_decay: 0.01, max_grad_norm: 0.5, seed: 7, data_seed: 7, max_length: 128,
      adam_beta1: 0.9, adam_beta2: 0.999, adam_epsilon: 1e-8, num_train_epochs: 2, logging_steps: 1, optim: 'adamw_torch', bf16: false,
    });
    for (const f of RUN_FIELDS.filter((x) => x.trainer)) {
      const name = `${f.group}.${f.key}`;
      const to = TRL_RENAMES[name]?.to ?? f.trainer;
      expect(plan.mapping.some((m) => m.field === name && m.to === to) || (name === 'training.warmupSteps' && plan.mapping.some((m) => m.to === 'warmup_steps')), name).toBe(true);
    }
    // Never an argument the pinned versions dropped.
    for (const gone of ['warmup_ratio', 'max_seq_length', 'group_by_length', 'per_device_train_batch_size', 'gradient_accumulation_steps', 'early_stopping_patience']) expect(plan.sft).not.toHaveProperty(gone);
    expect(trlPlan(config({ training: { schedule: 'constant' } }), 10).sft.lr_scheduler_type).toBe('constant_with_warmup');
  });

  it('renders Python literals', () => {
    expect([true, false, null, 3, 2e-4, 0.5, 'a"b', [1, 'x']].map((v) => pyLiteral(v as never))).toEqual(['True', 'False', 'None', '3', '0.0002', '0.5', '"a\\"b"', '[1, "x"]']);
  });
});

describe('data rows (labels = -100 exactly where LoRA Lab’s weight is 0)', () => {
  it('maps weights to labels position by position and refuses fractional weights', () => {
    const row = trlRow({ ids: [5, 6, 7, 8], weights: [0, 0, 1, 1], line: 3 });
    expect(row).toEqual({ input_ids: [5, 6, 7, 8], labels: [-100, -100, 7, 8], line: 3 });
    expect(() => trlRow({ ids: [1, 2], weights: [0, 0.5], line: 9 })).toThrow(/line 9.*0\.5/);
  });

  it('holds for prompt/completion examples from prepareData, and the validation rows are the run’s', async () => {
    const tok = LoraTokenizer.fromObjects(gpt2TokenizerJson(), gpt2TokenizerConfig(), 'gpt2 tokenizer.json');
    const file = path.join(tmp, 'pc.jsonl');
    fs.writeFileSync(file, Array.from({ length: 12 }, (_, i) => JSON.stringify({ prompt: `Define: word ${i}\n`, completion: `meaning number ${i}` })).join('\n'));
    const c = resolveRunConfig({ model: '/m', data: file, training: { seed: 3 } });
    const data = await prepareData(file, tok, dataOptionsOf(c));
    const again = await prepareData(file, tok, dataOptionsOf(c));
    expect(again.valid.map((e) => e.line)).toEqual(data.valid.map((e) => e.line));
    for (const ex of [...data.train, ...data.valid]) {
      const r = trlRow(ex);
      expect(r.input_ids).toEqual(ex.ids);
      r.labels.forEach((l, t) => expect(l === -100).toBe(ex.weights[t] === 0));
      expect(r.labels.some((l) => l !== -100)).toBe(true);
      expect(r.labels[0]).toBe(-100);
    }
  });
});

describe('the bundle on disk', () => {
  const ex = (line: number): Example => ({ ids: [1, 2, 3], weights: [0, 1, 1], line, truncated: false });
  const runDir = () => {
    const d = path.join(tmp, 'run');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'run.json'), '{"id":"r1"}\n');
    return d;
  };
  const input = (out: string, force = false) => ({ runDir: runDir(), runId: 'r1', config: config(), train: [ex(1), ex(2), ex(4)], valid: [ex(3)], padId: 0, out, force });

  it('holds train.py, data with checksums, run.json, requirements, accelerate configs, launch.sh, slurm.sbatch, README.md', () => {
    const out = path.join(tmp, 'b1');
    const r = writeTrlBundle(input(out));
    expect(r.files).toEqual([
      'README.md', 'accelerate/deepspeed_zero2.yaml', 'accelerate/fsdp.yaml', 'accelerate/multi_gpu.yaml', 'accelerate/single_gpu.yaml',
      'data/SHA256SUMS', 'data/train.jsonl', 'data/valid.jsonl', 'launch.sh', BUNDLE_MANIFEST, 'requirements.txt', 'run.json', 'slurm.sbatch', 'train.py',
    ]);
    const read = (f: string) => fs.readFileSync(path.join(out, f), 'utf8');
    expect(read('run.json')).toBe('{"id":"r1"}\n');
    expect(read('data/valid.jsonl')).toBe('{"input_ids":[1,2,3],"labels":[-100,2,3],"line":3}\n');
    expect(read('data/SHA256SUMS')).toMatch(/^[0-9a-f]{64} {2}train\.jsonl\n[0-9a-f]{64} {2}valid\.jsonl\n$/);
    const py = read('train.py');
    expect(py).not.toMatch(/@@[A-Z_]+@@/);
    expect(py).toContain('EFFECTIVE_BATCH = 24');
    expect(trainPySplits(py)).toEqual(new Map(r.plan.batchSplits.map((s) => [s.world, [s.micro, s.accumulation]])));
    expect(JSON.parse(read(BUNDLE_MANIFEST)).batchSplits).toEqual(r.plan.batchSplits);
    expect(read('README.md')).toContain('1 → 4 x 6, 2 → 4 x 3, 3 → 4 x 2, 4 → 3 x 2, 6 → 4 x 1, 8 → 3 x 1, 12 → 2 x 1, 24 → 1 x 1.');
    expect(py).toContain('lora_alpha=12,');
    expect(py).toContain('use_rslora=True,');
    expect(py).toMatch(/--check-only/);
    expect(read('requirements.txt')).toMatch(/^trl==\d/m);
    expect(read('launch.sh')).toMatch(/--num_processes "\$NUM_PROCESSES" --num_machines "\$NUM_MACHINES" --machine_rank "\$MACHINE_RANK"/);
    expect(fs.statSync(path.join(out, 'launch.sh')).mode & 0o111).not.toBe(0);
  });

  it('refuses a non-empty --out without --force, replaces a bundle with it, and never replaces a folder that is not a bundle', () => {
    const out = path.join(tmp, 'b2');
    writeTrlBundle(input(out));
    expect(() => writeTrlBundle(input(out))).toThrow(ExportError);
    expect(() => writeTrlBundle(input(out))).toThrow(/not empty; pass --force/);
    fs.writeFileSync(path.join(out, 'stale.txt'), 'x');
    writeTrlBundle(input(out, true));
    expect(fs.existsSync(path.join(out, 'stale.txt'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'train.py'))).toBe(true);

    const mine = path.join(tmp, 'mine');
    fs.mkdirSync(mine);
    fs.writeFileSync(path.join(mine, 'notes.txt'), 'keep');
    expect(() => writeTrlBundle(input(mine, true))).toThrow(/holds no lora-lab-bundle\.json/);
    expect(fs.readFileSync(path.join(mine, 'notes.txt'), 'utf8')).toBe('keep');
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    expect(() => checkBundleTarget(empty, runDir(), false)).not.toThrow();
    expect(() => checkBundleTarget(path.join(runDir(), 'bundle'), runDir(), true)).toThrow(/run folder/);
  });
});
