// A run folder of the sample model (samples/model: GPT-2, 4 layers, 256 wide) as training leaves
// it, made by hand in milliseconds, for the evaluation-case tests (issue 16).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeSafetensors } from '../../../src/core/hf/safetensors';
import { RunDir } from '../../../src/core/runs';

/**
 * A run folder of the sample model as training leaves it, made by hand (training the sample model
 * on wasm takes minutes): run.json, and adapter/ a PEFT LoRA of c_attn (r 2) with small random A
 * and B, so the adapter's outputs differ from the base's.
 */
export function handmadeRun(root: string, model: string, data: string, name = 'cases'): string {
  const run = RunDir.create(root, { name, config: { model, data, backend: 'wasm' }, model: { path: model, fingerprint: 'f' }, dataset: { path: data, sha256: '0'.repeat(64) } });
  const adapter = path.join(run.dir, 'adapter');
  fs.mkdirSync(adapter);
  const r = 2;
  fs.writeFileSync(path.join(adapter, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: model, bias: 'none', r, lora_alpha: 4, lora_dropout: 0, target_modules: ['c_attn'], fan_in_fan_out: true }));
  let seed = 7;
  const rand = (n: number) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.2);
  const tensors = [0, 1, 2, 3].flatMap((i) => [
    { name: `base_model.model.transformer.h.${i}.attn.c_attn.lora_A.weight`, shape: [r, 256], data: rand(r * 256), dtype: 'F32' as const },
    { name: `base_model.model.transformer.h.${i}.attn.c_attn.lora_B.weight`, shape: [768, r], data: rand(768 * r), dtype: 'F32' as const },
  ]);
  writeSafetensors(path.join(adapter, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  run.update({ status: 'completed', endedAt: new Date().toISOString() });
  return run.dir;
}

