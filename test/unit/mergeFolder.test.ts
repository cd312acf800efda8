// `lora-lab merge`: the merged folder keeps the base's key layout (GPT-2 with and without the
// `transformer.` prefix, legacy attn.bias buffers), dtypes (F32, F16, BF16) and sharding; untouched
// tensors are byte-identical; merged tensors equal W + scale·(B·A) computed independently here;
// merged logits equal PEFT's merge_and_unload (F32) and the unmerged adapter; and a failure leaves
// nothing behind.
import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/core/hf/dtypes';
import { buildMergedModel, mergeModelFolder } from '../../src/core/peft/merge';
import { loadModel } from '../../src/core/models/load';
import { loadPeftAdapter, readPeftAdapter, ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../../src/core/peft/adapterFolder';
import { WeightStore } from '../../src/core/hf/weights';
import { SafetensorsFile, writeSafetensors } from '../../src/core/hf/safetensors';

const FIX = path.join(__dirname, '..', 'fixtures');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lora-merge-'));
const IDS = [[3, 14, 15, 9, 2, 6, 5, 35, 8, 9], [27, 1, 8, 28, 18, 28, 45, 90, 4, 52]];

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor | number[][][]): number {
  return tf.tidy(() => a.sub(b instanceof tf.Tensor ? b : tf.tensor(b)).abs().max().dataSync()[0]);
}

interface Case {
  base: string;
  adapter: string;
  /** PEFT's merge_and_unload logits (float32 bases only). */
  golden?: string;
}
const CASES: [string, Case][] = [
  ['GPT-2, transformer.* keys, F32', { base: 'gpt2-tiny', adapter: 'gpt2-tiny/lora-r4-c_attn', golden: 'gpt2-tiny/lora-r4-c_attn' }],
  ['GPT-2, bare keys + attn.bias buffers, one layer', { base: 'gpt2-tiny-bare', adapter: 'gpt2-tiny/lora-r4-c_attn-layer1', golden: 'gpt2-tiny/lora-r4-c_attn-layer1' }],
  ['GPT-2, c_proj of attn and mlp (hand-made adapter)', { base: 'gpt2-tiny', adapter: 'handmade-lora/gpt2-tiny-c_proj-r3' }],
  ['Qwen2, all-linear, F32', { base: 'qwen2-tiny', adapter: 'qwen2-tiny/lora-r4-all-linear', golden: 'qwen2-tiny/lora-r4-all-linear' }],
  ['Llama GQA, BF16', { base: 'llama-tiny-gqa-bf16', adapter: 'llama-tiny-gqa-bf16/lora-rslora-r4-a6' }],
  ['Mistral, F16, 3 shards, regex targets', { base: 'mistral-tiny-f16-sharded', adapter: 'handmade-lora/mistral-tiny-f16-sharded-regex-r4' }],
];

/** W + scale·(B·A) in the file's layout, computed with tfjs (independently of merge.ts), rounded to the file's dtype. */
function expectedMerged(w: Float32Array, shape: number[], a: { shape: number[]; data: Float32Array }, b: { shape: number[]; data: Float32Array }, scale: number, conv1d: boolean): Float32Array {
  return tf.tidy(() => {
    const delta = tf.matMul(tf.tensor2d(b.data, b.shape as [number, number]), tf.tensor2d(a.data, a.shape as [number, number])).mul(scale);
    return tf.tensor2d(w, shape as [number, number]).add(conv1d ? delta.transpose() : delta).dataSync() as Float32Array;
  });
}

describe.each(CASES)('merge: %s', (_label, c) => {
  it('folder: same keys, shapes, dtypes, files and metadata as the base; untouched tensors byte-identical; merged ones = W + scale·BA', () => {
    const out = path.join(tmp(), 'merged');
    const s = mergeModelFolder({ model: path.join(FIX, c.base), adapter: path.join(FIX, c.adapter), out });
    const adapter = readPeftAdapter(path.join(FIX, c.adapter));
    const scale = adapter.config.useRslora ? adapter.config.loraAlpha / Math.sqrt(adapter.config.r) : adapter.config.loraAlpha / adapter.config.r;
    const [base, merged] = [WeightStore.open(path.join(FIX, c.base)), WeightStore.open(out)];
    expect(merged.files.map((f) => path.basename(f))).toEqual(base.files.map((f) => path.basename(f)));
    expect(merged.names().sort()).toEqual(base.names().sort());
    expect(fs.readFileSync(path.join(out, 'config.json'))).toEqual(fs.readFileSync(path.join(FIX, c.base, 'config.json')));
    const adapted = new Set(s.mergedModules);
    let changed = 0;
    for (const name of base.names()) {
      const [bi, mi] = [base.info(name), merged.info(name)];
      expect({ dtype: mi.dtype, shape: mi.shape, file: path.basename(mi.file) }, name).toEqual({ dtype: bi.dtype, shape: bi.shape, file: path.basename(bi.file) });
      const module = [...adapted].find((m) => name === `${m.replace(/^transformer\./, base.has('wte.weight') ? '' : 'transformer.')}.weight`);
      const rawB = SafetensorsFile.open(bi.file);
      const rawM = SafetensorsFile.open(mi.file);
      if (!module) expect(Buffer.from(rawM.readBytes(name)).equals(Buffer.from(rawB.readBytes(name))), name).toBe(true);
      else {
        changed++;
        const a = adapter.tensors.get(`base_model.model.${module}.lora_A.weight`)!;
        const b = adapter.tensors.get(`base_model.model.${module}.lora_B.weight`)!;
        const want = expectedMerged(base.readFloat32(name), bi.shape, a, b, scale, c.base.startsWith('gpt2'));
        const got = merged.readFloat32(name);
        if (bi.dtype === 'F32') want.forEach((x, i) => expect(Math.abs(got[i] - x)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(x))));
        else {
          // Rounded once from float32 to the file's dtype: at most one unit in the last place away from rounding tfjs's float32 sum.
          const [enc, dec] = bi.dtype === 'BF16' ? [f32ToBf16, bf16ToF32] : [f32ToF16, f16ToF32];
          const ulp = (x: number) => Math.abs(dec(Uint16Array.of(enc(Float32Array.of(x))[0] + 1))[0] - dec(enc(Float32Array.of(x)))[0]);
          want.forEach((x, i) => expect(Math.abs(got[i] - dec(enc(Float32Array.of(x)))[0])).toBeLessThanOrEqual(ulp(x)));
        }
      }
      rawB.close();
      rawM.close();
    }
    expect(changed).toBe(adapted.size);
    for (const f of merged.files) expect(SafetensorsFile.open(f).metadata).toMatchObject({ format: 'pt' });
    base.close();
    merged.close();
    if (c.base.includes('sharded')) expect(fs.readFileSync(path.join(out, 'model.safetensors.index.json'))).toEqual(fs.readFileSync(path.join(FIX, c.base, 'model.safetensors.index.json')));
    expect(fs.readdirSync(path.dirname(out))).toEqual(['merged']); // no temp folder left
  });

  it('logits: merged folder = adapter (unmerged) within 1e-4 (F32) or the dtype\'s rounding, = PEFT merge_and_unload, = the in-memory merge', () => {
    const out = path.join(tmp(), 'merged');
    mergeModelFolder({ model: path.join(FIX, c.base), adapter: path.join(FIX, c.adapter), out });
    const { model: base } = loadModel(path.join(FIX, c.base));
    const adapter = loadPeftAdapter(base, path.join(FIX, c.adapter));
    const { model: merged, unusedTensors } = loadModel(out);
    expect(unusedTensors).toEqual([]);
    const ids = IDS.map((r) => r.map((t) => t % base.spec.vocabSize));
    const [la, lm] = [base.logits(ids), merged.logits(ids)];
    const half = WeightStore.open(out).dtypes();
    expect(maxAbsDiff(lm, la)).toBeLessThan(half.BF16 ? 0.1 : half.F16 ? 1e-2 : 1e-4);
    if (c.golden) {
      const g = JSON.parse(fs.readFileSync(path.join(FIX, c.golden, 'golden.json'), 'utf8')) as { input_ids: number[][]; logits_merged: number[][][] };
      const lg = merged.logits(g.input_ids);
      expect(maxAbsDiff(lg, g.logits_merged)).toBeLessThan(1e-4);
      lg.dispose();
    }
    const inMemory = buildMergedModel(path.join(FIX, c.base), adapter.config, adapter.tensors);
    const li = inMemory.logits(ids);
    expect(maxAbsDiff(li, lm)).toBe(0);
    tf.dispose([la, lm, li]);
    [base, merged, inMemory].forEach((m) => m.dispose());
  });
});

describe('merge: refusals and failures leave nothing behind', () => {
  const GPT2 = path.join(FIX, 'gpt2-tiny');
  const ADAPTER = path.join(GPT2, 'lora-r4-c_attn');

  function adapterWith(edit: (name: string, data: Float32Array) => void, from = ADAPTER): string {
    const dir = tmp();
    fs.copyFileSync(path.join(from, ADAPTER_CONFIG), path.join(dir, ADAPTER_CONFIG));
    const st = SafetensorsFile.open(path.join(from, ADAPTER_WEIGHTS));
    const tensors = st.names().map((name) => ({ name, shape: st.info(name).shape, data: st.readFloat32(name), dtype: 'F32' as const }));
    st.close();
    for (const t of tensors) edit(t.name, t.data);
    writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
    return dir;
  }

  it('an adapter with NaN is refused, naming the tensor; no folder is created', () => {
    const parent = tmp();
    const bad = adapterWith((name, d) => name.includes('h.1.attn.c_attn.lora_B') && (d[7] = NaN));
    expect(() => mergeModelFolder({ model: GPT2, adapter: bad, out: path.join(parent, 'm') })).toThrow(
      'adapter tensor transformer.h.1.attn.c_attn.lora_B.weight holds NaN at element 7: refusing to merge NaN/Inf weights',
    );
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('a merged weight that overflows F16 fails mid-write: no output folder and no temp folder remain', () => {
    const parent = tmp();
    const src = path.join(FIX, 'handmade-lora', 'mistral-tiny-f16-sharded-regex-r4');
    const huge = adapterWith((name, d) => name.includes('layers.2.mlp.up_proj.lora_B') && d.fill(3e4), src);
    expect(() => mergeModelFolder({ model: path.join(FIX, 'mistral-tiny-f16-sharded'), adapter: huge, out: path.join(parent, 'm') })).toThrow(
      /merged tensor "model\.layers\.2\.mlp\.up_proj\.weight" overflows F16 at element \d+ .*refusing to write Inf weights/,
    );
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('an existing --out is kept unless --force, which replaces it only once the new folder is complete', () => {
    const parent = tmp();
    const out = path.join(parent, 'm');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'old.txt'), 'old');
    expect(() => mergeModelFolder({ model: GPT2, adapter: ADAPTER, out })).toThrow(`${out} already exists: choose another --out, or pass --force to replace it`);
    const bad = adapterWith((_n, d) => (d[0] = Infinity));
    expect(() => mergeModelFolder({ model: GPT2, adapter: bad, out, force: true })).toThrow(/Infinity/);
    expect(fs.readdirSync(out)).toEqual(['old.txt']);
    mergeModelFolder({ model: GPT2, adapter: ADAPTER, out, force: true });
    expect(fs.readdirSync(out).sort()).toEqual(['README.md', 'config.json', 'golden.json', 'model.safetensors'] /* README.md: the merged model's card */);
    expect(fs.readdirSync(parent)).toEqual(['m']);
    expect(() => mergeModelFolder({ model: GPT2, adapter: ADAPTER, out: GPT2 })).toThrow(/is the base or adapter folder/);
  });

  it('copies tokenizer and small files, skips folders and weights in other formats', () => {
    const base = tmp();
    for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(GPT2, f), path.join(base, f));
    fs.writeFileSync(path.join(base, 'tokenizer.json'), '{"model": {}}');
    fs.writeFileSync(path.join(base, 'tokenizer_config.json'), '{}');
    fs.writeFileSync(path.join(base, 'pytorch_model.bin'), 'stale');
    fs.symlinkSync(path.join(base, 'tokenizer_config.json'), path.join(base, 'generation_config.json'));
    fs.mkdirSync(path.join(base, 'onnx'));
    const out = path.join(tmp(), 'm');
    const s = mergeModelFolder({ model: base, adapter: ADAPTER, out });
    expect(s.copied).toEqual(['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']);
    expect(s.skipped.map((k) => k.file)).toEqual(['onnx', 'pytorch_model.bin']);
    expect(fs.lstatSync(path.join(out, 'generation_config.json')).isFile()).toBe(true);
  });
});
