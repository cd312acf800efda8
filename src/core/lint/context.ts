// The model side of a lint: a model folder's tokenizer and vocabulary, loaded once and reused while
// its files are unchanged (the lint process serves many requests on one model), and the options
// lintDataset / viewRow take, built from LintSettings.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LintSettings } from '../../protocol/lint';
import { readConfig } from '../hf/config';
import { loadTokenizer, type LoraTokenizer } from '../hf/tokenizer';
import type { Vocabulary } from '../data/encode';
import type { LintOptions } from './lint';

interface Loaded {
  key: string;
  tokenizer?: LoraTokenizer;
  vocab?: Vocabulary;
  problem?: string;
}

const cache = new Map<string, Loaded>();

/** mtimes of the files a model's tokenizer depends on: a change reloads it. */
function stamp(dir: string): string {
  return ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja']
    .map((f) => {
      try {
        return String(fs.statSync(path.join(dir, f)).mtimeMs);
      } catch {
        return '-';
      }
    })
    .join(',');
}

function loadModelSide(model: string): Loaded {
  const dir = path.resolve(model);
  const key = stamp(dir);
  const hit = cache.get(dir);
  if (hit && hit.key === key) return hit;
  const loaded: Loaded = { key };
  try {
    const { spec, file } = readConfig(dir);
    loaded.vocab = { size: spec.vocabSize, source: `vocab_size in ${file}` };
    loaded.tokenizer = loadTokenizer(dir);
    if (!loaded.tokenizer) loaded.problem = `${dir} has no tokenizer.json`;
  } catch (e) {
    loaded.problem = `the model ${dir} cannot be read: ${(e as Error).message}`;
  }
  cache.set(dir, loaded);
  return loaded;
}

/** lintDataset's options for these settings (the model's tokenizer loaded or taken from the cache). */
export function lintOptions(settings: LintSettings, signal?: AbortSignal): LintOptions {
  const side = settings.model ? loadModelSide(settings.model) : undefined;
  return {
    tokenizer: side?.tokenizer,
    vocab: side?.vocab,
    model: settings.model ? path.resolve(settings.model) : undefined,
    noTokenizerReason: side ? side.problem : 'no model chosen (set loraLab.modelPath, or pass --model)',
    maxSeqLen: settings.maxSeqLen,
    maxRowBytes: settings.maxRowBytes,
    columns: settings.columns,
    signal,
  };
}
