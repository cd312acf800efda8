// Evaluation from folders on disk: a base model folder, its PEFT adapter folder and a merged model
// folder (or the merge built in memory from the base files, as `lora-lab merge` writes it), loaded
// under the backend's memory guard and scored by evaluateModels. `lora-lab eval` and the worker's
// evaluate job (the *Evaluate Run…* command) both go through here.
import * as path from 'node:path';
import { checkMemory, type BackendReport } from '../backend';
import type { Example } from '../data/types';
import { readConfig } from '../hf/config';
import type { LoraTokenizer } from '../hf/tokenizer';
import type { CausalLM } from '../models/causalLm';
import { loadModel } from '../models/load';
import { readPeftAdapterFor } from '../peft/adapterFolder';
import { buildMergedModel, weightsPrecision } from '../peft/merge';
import type { PhaseEvent } from '../../protocol/progress';
import { evaluateModels, type EvalOptions, type EvalReport } from './evaluate';

/** A merged folder that is not a merge of the base model (another architecture or size). */
export class EvalInputError extends Error {
  override name = 'EvalInputError';
}

export interface FolderEvaluation {
  modelDir: string;
  adapterDir?: string;
  mergedDir?: string;
  examples: readonly Pick<Example, 'ids' | 'weights'>[];
  padId: number;
  tokenizer?: LoraTokenizer;
  /** eval.json's sources.data: the file, or for a run's held-out split how it was drawn. */
  dataSource: string;
  backend: BackendReport;
  notes?: string[];
  options?: Partial<EvalOptions>;
  onPhase?: (e: PhaseEvent) => void;
  signal?: AbortSignal;
}

export async function evaluateFolders(f: FolderEvaluation): Promise<EvalReport> {
  const { spec } = readConfig(f.modelDir);
  // Checked against the base from adapter_config.json and the header before its weights are read.
  const adapter = f.adapterDir ? readPeftAdapterFor(f.adapterDir, spec) : undefined;
  const config = adapter?.config;
  f.onPhase?.({ type: 'phase', phase: 'loading-model' });
  const { model } = loadModel(f.modelDir);
  let merged: CausalLM | undefined;
  try {
    if (adapter && config) model.loadAdapter(config, adapter.tensors);
    model.memoryGuard = (where) => checkMemory(f.backend, where);
    if (f.mergedDir) {
      merged = loadModel(f.mergedDir).model;
      const m = merged.spec;
      if (m.architecture !== spec.architecture || m.vocabSize !== spec.vocabSize || m.numLayers !== spec.numLayers || m.hiddenSize !== spec.hiddenSize) {
        throw new EvalInputError(`--merged ${f.mergedDir} is a ${m.architecture} (${m.numLayers} layers × ${m.hiddenSize}, vocab ${m.vocabSize}), not a merge of --model ${f.modelDir}`);
      }
    } else if (adapter && config) {
      f.onPhase?.({ type: 'phase', phase: 'merging', detail: 'in memory, for the evaluation' });
      merged = buildMergedModel(f.modelDir, config, adapter.tensors);
    }
    if (merged) merged.memoryGuard = (where) => checkMemory(f.backend, where);
    return await evaluateModels({
      model, merged, mergedDtype: merged ? weightsPrecision(f.mergedDir ?? f.modelDir) : undefined, adapter: adapter && config ? { config, tensors: adapter.tensors } : undefined,
      examples: f.examples, padId: f.padId, tokenizer: f.tokenizer, notes: f.notes, options: f.options, onPhase: f.onPhase, signal: f.signal,
      sources: {
        model: path.resolve(f.modelDir), data: f.dataSource,
        ...(f.adapterDir ? { adapter: path.resolve(f.adapterDir) } : {}),
        ...(f.mergedDir ? { merged: path.resolve(f.mergedDir) } : adapter ? { merged: 'in memory: the base merged with the adapter, as lora-lab merge writes it' } : {}),
      },
    });
  } finally {
    model.dispose();
    merged?.dispose();
  }
}
