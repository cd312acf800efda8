// Training checkpoints on disk. A checkpoint folder is itself a PEFT adapter folder
// (adapter_config.json + adapter_model.safetensors, loadable by PeftModel.from_pretrained) plus
// what resuming needs: optimizer.safetensors (AdamW moments) and trainer_state.json. A PiSSA/OLoRA
// checkpoint holds PEFT's converted adapter (rank 2r, for the original base; lora/initDecomp.ts) and
// trainer_state.json's `decomposedInit` names the init, so reading splits it back into the trained
// A, B and the initial A₀, B₀ from which resuming rebuilds the residual base.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelSpec } from '../hf/config';
import type { LoraConfig } from '../lora/config';
import type { AdamWState } from './optimizer';
import { readPeftAdapter, writePeftAdapter } from '../peft/adapterFolder';
import { SafetensorsFile, writeSafetensors } from '../hf/safetensors';
import { convertAdapter, isDecompInit, splitConverted } from '../lora/initDecomp';

export const TRAINER_STATE = 'trainer_state.json';
export const OPTIMIZER_STATE = 'optimizer.safetensors';

/** Where training stands after `step` completed optimizer steps. */
export interface TrainerProgress {
  step: number;
  /** Epoch and micro-batch index within it where the next step starts. */
  epoch: number;
  microBatch: number;
  tokensSeen: number;
  bestValLoss: number | null;
  bestStep: number | null;
  evalsWithoutImprovement: number;
  seed: number;
}

export interface TrainerCheckpoint {
  progress: TrainerProgress;
  lora: LoraConfig;
  adapter: { name: string; shape: number[]; data: Float32Array }[];
  /** PiSSA/OLoRA: the initial A₀, B₀ under the adapter's names (LoraAdapters.initTensors); absent otherwise. */
  init?: { name: string; shape: number[]; data: Float32Array }[];
  optimizer: AdamWState;
}

export function writeCheckpoint(dir: string, ckpt: TrainerCheckpoint, spec: ModelSpec, baseModel: string): void {
  const decomp = isDecompInit(ckpt.lora.initLoraWeights) ? ckpt.lora.initLoraWeights : undefined;
  if (decomp) {
    if (!ckpt.init?.length) throw new Error(`internal: a ${decomp} checkpoint needs the initial A₀, B₀`);
    const c = convertAdapter(ckpt.lora, ckpt.adapter, new Map(ckpt.init.map((t) => [t.name, t])));
    writePeftAdapter(dir, c.config, spec, baseModel, c.tensors);
  } else writePeftAdapter(dir, ckpt.lora, spec, baseModel, ckpt.adapter);
  const opt = ckpt.optimizer;
  const names = ckpt.adapter.map((t) => t.name);
  writeSafetensors(
    path.join(dir, OPTIMIZER_STATE),
    [
      ...opt.m.map((data, i) => ({ name: `exp_avg.${names[i]}`, shape: [data.length], data, dtype: 'F32' as const })),
      ...opt.v.map((data, i) => ({ name: `exp_avg_sq.${names[i]}`, shape: [data.length], data, dtype: 'F32' as const })),
    ],
    { format: 'lora-lab-adamw', step: String(opt.step) },
  );
  fs.writeFileSync(path.join(dir, TRAINER_STATE), JSON.stringify({ ...ckpt.progress, optimizerStep: opt.step, ...(decomp && { decomposedInit: decomp, loraAlpha: ckpt.lora.loraAlpha }) }, null, 2) + '\n');
}

/**
 * Reads a checkpoint folder written by writeCheckpoint. Adapter tensors come back in the order of
 * `variableOrder` (PEFT names), the order the optimizer moments were saved in.
 */
export function readCheckpoint(dir: string): TrainerCheckpoint {
  const stateFile = path.join(dir, TRAINER_STATE);
  if (!fs.existsSync(stateFile)) throw new Error(`${dir}: not a LoRA Lab checkpoint (${TRAINER_STATE} is missing)`);
  const { decomposedInit, loraAlpha, ...progress } = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as TrainerProgress & { optimizerStep: number; decomposedInit?: unknown; loraAlpha?: number };
  const adapter = readPeftAdapter(dir);
  let init: TrainerCheckpoint['init'];
  if (decomposedInit !== undefined) {
    if (!isDecompInit(decomposedInit)) throw new Error(`${stateFile}: decomposedInit ${JSON.stringify(decomposedInit)} is not pissa, pissa_niter_N or olora`);
    const split = splitConverted(adapter.config, [...adapter.tensors].map(([name, t]) => ({ name, ...t })), decomposedInit);
    adapter.config = { ...split.config, loraAlpha: loraAlpha ?? split.config.loraAlpha }; // the exact alpha (×√2 does not round-trip with rsLoRA)
    adapter.tensors = new Map(split.tensors.map((t) => [t.name, t]));
    init = split.init;
  }
  const st = SafetensorsFile.open(path.join(dir, OPTIMIZER_STATE));
  try {
    const names = st.names().filter((n) => n.startsWith('exp_avg.')).map((n) => n.slice('exp_avg.'.length));
    const tensors = names.map((name) => {
      const t = adapter.tensors.get(name);
      if (!t) throw new Error(`${dir}: optimizer state names ${name}, which the adapter lacks`);
      return { name, shape: t.shape, data: t.data };
    });
    return {
      progress,
      lora: adapter.config,
      adapter: tensors,
      ...(init && { init }),
      optimizer: {
        step: progress.optimizerStep,
        m: names.map((n) => st.readFloat32(`exp_avg.${n}`)),
        v: names.map((n) => st.readFloat32(`exp_avg_sq.${n}`)),
      },
    };
  } finally {
    st.close();
  }
}
