// WeightStore over the two layouts transformers' save_pretrained writes (model.safetensors, or
// shards + model.safetensors.index.json with a weight_map), and over fixtures saved by Python.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsError, writeSafetensors, type TensorToWrite } from '../../src/core/hf/safetensors';
import { WeightStore } from '../../src/core/hf/weights';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lab-weights-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const modelDir = (): string => {
  const dir = path.join(tmp, `model-${counter++}`);
  fs.mkdirSync(dir);
  return dir;
};
const tensor = (name: string, shape: number[], dtype: TensorToWrite['dtype'] = 'F32'): TensorToWrite => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, shape, dtype, data: Float32Array.from({ length: n }, (_, i) => i + 1) };
};

function storeError(dir: string): SafetensorsError {
  try {
    WeightStore.open(dir).close();
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    return e as SafetensorsError;
  }
  throw new Error(`expected ${dir} to be rejected`);
}

/** A sharded folder: `shards` maps file name → tensors; the index maps each tensor to its file. */
function sharded(shards: Record<string, TensorToWrite[]>, extraMap: Record<string, string> = {}): string {
  const dir = modelDir();
  const weightMap: Record<string, string> = {};
  for (const [file, tensors] of Object.entries(shards)) {
    writeSafetensors(path.join(dir, file), tensors, { format: 'pt' });
    for (const t of tensors) weightMap[t.name] = file;
  }
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { ...weightMap, ...extraMap } }));
  return dir;
}

describe('WeightStore layouts (transformers save_pretrained: single file or index + shards)', () => {
  it('opens a single model.safetensors', () => {
    const dir = modelDir();
    writeSafetensors(path.join(dir, 'model.safetensors'), [tensor('wte.weight', [4, 3]), tensor('ln_f.bias', [3], 'BF16')], { format: 'pt' });
    const store = WeightStore.open(dir);
    expect(store.files).toEqual([path.join(dir, 'model.safetensors')]);
    expect(store.names()).toEqual(['wte.weight', 'ln_f.bias']);
    expect(store.info('ln_f.bias')).toMatchObject({ dtype: 'BF16', shape: [3], file: path.join(dir, 'model.safetensors') });
    expect([...store.readFloat32('ln_f.bias')]).toEqual([1, 2, 3]);
    expect(store.dtypes()).toEqual({ F32: 1, BF16: 1 });
    expect(store.totalParameters()).toBe(15);
    store.close();
  });

  it('opens shards through the index and routes each name to its shard', () => {
    const dir = sharded({
      'model-00001-of-00002.safetensors': [tensor('a', [2, 2], 'F16'), tensor('b', [3])],
      'model-00002-of-00002.safetensors': [tensor('c', [5], 'F16'), tensor('scalar', [])],
    });
    const store = WeightStore.open(dir);
    expect(store.files.map((f) => path.basename(f))).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(store.has('c')).toBe(true);
    expect(path.basename(store.info('c').file)).toBe('model-00002-of-00002.safetensors');
    expect([...store.readFloat32('c')]).toEqual([1, 2, 3, 4, 5]);
    expect([...store.readFloat32('a')]).toEqual([1, 2, 3, 4]);
    expect(store.dtypes()).toEqual({ F16: 2, F32: 2 });
    expect(store.totalParameters()).toBe(4 + 3 + 5 + 1);
    expect(() => store.readFloat32('d')).toThrow(/no tensor named "d"/);
    store.close();
  });

  it('names the index and the shard when a shard file is missing', () => {
    const dir = sharded({ 'model-00001-of-00002.safetensors': [tensor('a', [2])] }, { b: 'model-00002-of-00002.safetensors' });
    const err = storeError(dir);
    expect(err.message).toContain('model.safetensors.index.json');
    expect(err.message).toContain('model-00002-of-00002.safetensors');
    expect(err.message).toContain('"b"');
  });

  it('names the tensor, the shard and the index when a mapped name is not in its shard', () => {
    const dir = sharded({ 'model-00001-of-00001.safetensors': [tensor('a', [2])] }, { ghost: 'model-00001-of-00001.safetensors' });
    const err = storeError(dir);
    expect(err.tensor).toBe('ghost');
    expect(err.message).toMatch(/model\.safetensors\.index\.json.*"ghost".*model-00001-of-00001\.safetensors/);
  });

  it('refuses an index that points outside the model folder', () => {
    const dir = sharded({ 'model-00001-of-00001.safetensors': [tensor('a', [2])] }, { b: '../elsewhere.safetensors' });
    expect(storeError(dir).message).toMatch(/"b".*not a file in the model folder/);
  });

  it('explains that pytorch_model.bin is not supported and how to convert it', () => {
    const dir = modelDir();
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'pickle');
    fs.writeFileSync(path.join(dir, 'config.json'), '{}');
    const err = storeError(dir);
    expect(err.message).toContain(dir);
    expect(err.message).toMatch(/contains config\.json, pytorch_model\.bin/);
    expect(err.message).toMatch(/not supported/);
    expect(err.message).toMatch(/safe_serialization=True/);
  });

  it('says so when the folder is empty or missing', () => {
    expect(storeError(modelDir()).message).toMatch(/it is empty/);
    expect(storeError(path.join(tmp, 'nope')).message).toMatch(/not a folder/);
  });
});

// Fixtures saved by Python (transformers save_pretrained / safetensors); see scripts/gen_golden.py.
const FIXTURES = path.resolve(__dirname, '../fixtures');
const fixtureModels: Array<{ dir: string; dtype: string; shards: number }> = [
  { dir: 'gpt2-tiny', dtype: 'F32', shards: 1 },
  { dir: 'gpt2-tiny-bare', dtype: 'F32', shards: 1 },
  { dir: 'qwen2-tiny', dtype: 'F32', shards: 1 },
  { dir: 'llama-tiny-gqa-bf16', dtype: 'BF16', shards: 1 },
  { dir: 'mistral-tiny-f16-sharded', dtype: 'F16', shards: 3 },
];

/** Shape products straight from each model*.safetensors header, parsed here independently. */
function headerParameterCount(dir: string): number {
  let total = 0;
  for (const file of fs.readdirSync(dir).filter((f) => /^model.*\.safetensors$/.test(f))) {
    const bytes = fs.readFileSync(path.join(dir, file));
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
    for (const [name, entry] of Object.entries(header)) {
      if (name !== '__metadata__') total += (entry as { shape: number[] }).shape.reduce((a, b) => a * b, 1);
    }
  }
  return total;
}

for (const { dir, dtype, shards } of fixtureModels) {
  const full = path.join(FIXTURES, dir);
  const present = fs.existsSync(full) && fs.readdirSync(full).some((f) => /^model.*\.safetensors$/.test(f));
  describe.skipIf(!present)(`fixture ${dir} (written by Python's safetensors)`, () => {
    it(`holds only ${dtype} tensors, and the parameter count equals the sum of header shape products`, () => {
      const store = WeightStore.open(full);
      expect(store.files).toHaveLength(shards);
      expect(Object.keys(store.dtypes())).toEqual([dtype]);
      expect(store.totalParameters()).toBe(headerParameterCount(full));
      const index = path.join(full, 'model.safetensors.index.json');
      if (fs.existsSync(index)) {
        // transformers records its own count in the index metadata: a second reference.
        const meta = JSON.parse(fs.readFileSync(index, 'utf8')).metadata ?? {};
        if (typeof meta.total_parameters === 'number') expect(store.totalParameters()).toBe(meta.total_parameters);
      }
      for (const name of store.names()) {
        const values = store.readFloat32(name);
        expect(values.length).toBe(store.info(name).shape.reduce((a, b) => a * b, 1));
        expect(values.every(Number.isFinite)).toBe(true);
      }
      store.close();
    });
  });
}
