// Loads a local Hugging Face model folder (config.json + safetensors, single or sharded) into
// the engine's model classes. Unexpected checkpoint tensors are reported, not silently dropped.
import { readConfig, type ModelSpec } from '../hf/config';
import { WeightStore } from '../hf/weights';
import type { CausalLM } from './causalLm';
import { Gpt2Model } from './gpt2';
import { LlamaModel } from './llama';
import { WeightReader, type TensorSource } from './weightReader';

export interface LoadedModel {
  model: CausalLM;
  spec: ModelSpec;
  /** Checkpoint tensors the architecture does not use (e.g. extra heads); empty for clean folders. */
  unusedTensors: string[];
  /** dtype → tensor count, as stored on disk. */
  dtypes: Record<string, number>;
}

/** Builds a model of `spec` from any tensor source (a folder's WeightStore, or an in-memory map in tests). */
export function buildModel(spec: ModelSpec, source: TensorSource, where: string): { model: CausalLM; unusedTensors: string[] } {
  const prefix = spec.family === 'gpt2' ? Gpt2Model.detectPrefix(source.names(), where) : '';
  const reader = new WeightReader(source, where, prefix);
  const model = spec.family === 'gpt2' ? Gpt2Model.load(spec, reader) : LlamaModel.load(spec, reader);
  return { model, unusedTensors: reader.unused() };
}

export function loadModel(modelDir: string): LoadedModel {
  const { spec } = readConfig(modelDir);
  const store = WeightStore.open(modelDir);
  try {
    const { model, unusedTensors } = buildModel(spec, store, modelDir);
    return { model, spec, unusedTensors, dtypes: store.dtypes() };
  } finally {
    store.close();
  }
}
