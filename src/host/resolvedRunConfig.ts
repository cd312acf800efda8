// A run's configuration as training resolved it, for Compare and the run labels: run.json's
// `config` through the run-config table (old keys renamed, defaults filled: decodeRunConfig) and
// the LoRA targets as training picks them (resolveLoraConfig's PEFT default for the model's
// architecture, read from the model's config.json), so a run with the default targets and one
// with the same targets spelled out read alike. Target lists are written sorted: PEFT matches
// them as a set. No vscode import: unit-tested under vitest.
import { readConfig, type ModelSpec } from '../core/hf/config';
import { defaultTargets } from '../core/lora/modules';
import { decodeRunConfig, type RunConfig } from '../protocol/runConfig';

export interface ResolvedRunConfig {
  /** The resolved configuration; absent when run.json's config is not one (`error` says why). */
  config?: RunConfig;
  error?: string;
  /** What could not be resolved, in words (the model folder is gone, the run started from an adapter). */
  notes: string[];
}

/** Model specs by config.json path, so listing many runs of one model reads its config once. */
export type SpecCache = Map<string, { spec?: ModelSpec; error?: string }>;

function specOf(model: string, cache: SpecCache): { spec?: ModelSpec; error?: string } {
  let hit = cache.get(model);
  if (!hit) {
    try {
      hit = { spec: readConfig(model).spec };
    } catch (e) {
      hit = { error: (e as Error).message };
    }
    cache.set(model, hit);
  }
  return hit;
}

/** run.json's `config` resolved as training resolves it (see the file comment). */
export function resolveRunConfigOf(raw: unknown, cache: SpecCache = new Map()): ResolvedRunConfig {
  const d = decodeRunConfig(raw);
  if (!d.ok) return { error: d.error, notes: [] };
  let config = d.value;
  const notes: string[] = [];
  let targets = config.lora.targetModules;
  if (Array.isArray(targets)) targets = [...targets].sort();
  else if (targets === undefined) {
    const { spec, error } = specOf(config.model, cache);
    if (spec) targets = [...defaultTargets(spec)].sort();
    else notes.push(`the model folder ${config.model} cannot be read (${error}): lora.targetModules is left unset (PEFT's default for the architecture)`);
  }
  // Through the decoder again: the keys in the table's order, wherever the targets came from.
  const again = decodeRunConfig({ ...config, lora: { ...config.lora, targetModules: targets } });
  if (again.ok) config = again.value;
  if (config.initAdapter) notes.push(`training started from the adapter ${config.initAdapter}: its r, alpha and targets won over lora's`);
  return { config, notes };
}

/** Rows a run's exclusion lists left out (run.json `dataset.excluded` / `validExcluded`), by file. */
export interface ExcludedRows {
  excluded?: { file: string; rows: number; lines: number[] };
  validExcluded?: { file: string; rows: number; lines: number[] };
}

/**
 * The text of a Compare document: notes as comments, then the resolved config as JSON, then the
 * rows the run left out by exclusion lists (so two runs that differ only in that diff there).
 */
export function configDocument(raw: unknown, cache?: SpecCache, dataset: ExcludedRows = {}): string {
  const r = resolveRunConfigOf(raw, cache);
  const head = [...(r.error ? [`run.json's config is not valid (${r.error}): shown as it is`] : []), ...r.notes].map((n) => `// ${n}\n`).join('');
  const excludedRows: Record<string, number[]> = {};
  for (const e of [dataset.excluded, dataset.validExcluded]) if (e) excludedRows[e.file.replace(/\.lora-lab-exclude\.json$/, '')] = e.lines;
  const doc = { ...((r.config ?? raw ?? {}) as object), excludedRows };
  return head + JSON.stringify(doc, null, 2) + '\n';
}
