// The README.md of a merged model folder and of a run's adapter folder: a model card with the
// Hub's front matter and the facts of the run that made it (src/core/hf/modelCard.ts renders
// them). The facts are read from the adapter's adapter_config.json, the run folder around it
// (run.json, eval.json: the adapter is <run>/adapter) when there is one, and the base model's own
// README.md for its license. A missing or unreadable run or eval file leaves its section out.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cardLicense, factsMarkdown, frontMatter, runFacts, type CardFacts } from '../hf/modelCard';
import { loraLabVersion } from '../util/version';
import { writeFileAtomic } from '../util/durableFiles';
import { decodeEvalReport, EVAL_FILE } from '../../protocol/evaluation';
import { decodeRunConfig } from '../../protocol/runConfig';
import { decodeRunRecord } from '../../protocol/runRecord';
import { ADAPTER_CONFIG, parseAdapterConfig } from './adapterFolder';

export const CARD_FILE = 'README.md';

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The folder of run.json around an adapter folder (<run>/adapter), or undefined. */
function runDirOf(adapterDir: string): string | undefined {
  const up = path.dirname(path.resolve(adapterDir));
  return fs.existsSync(path.join(up, 'run.json')) ? up : undefined;
}

/** The card's facts for the adapter in `adapterDir` on the base in `modelDir`. */
export function cardFacts(adapterDir: string, modelDir: string): CardFacts {
  const cfgFile = path.join(adapterDir, ADAPTER_CONFIG);
  const adapter = parseAdapterConfig(readJson(cfgFile), cfgFile);
  const c = adapter.config;
  let baseCard: string | undefined;
  try {
    baseCard = fs.readFileSync(path.join(modelDir, CARD_FILE), 'utf8');
  } catch {
    baseCard = undefined; // a base without a card: no license to carry
  }
  const facts: CardFacts = {
    baseModel: adapter.baseModel ?? path.resolve(modelDir),
    license: baseCard === undefined ? undefined : cardLicense(baseCard),
    lora: { r: c.r, alpha: c.loraAlpha, dropout: c.loraDropout, targets: c.targetModules, rslora: c.useRslora, dora: c.useDora, layers: c.layersToTransform, rankPattern: c.rankPattern, alphaPattern: c.alphaPattern },
    version: loraLabVersion(),
  };
  const runDir = runDirOf(adapterDir);
  if (runDir) {
    const rec = decodeRunRecord({ id: path.basename(runDir), dir: runDir })(readJson(path.join(runDir, 'run.json')));
    if (rec.ok) {
      const config = decodeRunConfig(rec.value.config);
      const ev = fs.existsSync(path.join(runDir, EVAL_FILE)) ? decodeEvalReport(readJson(path.join(runDir, EVAL_FILE))) : undefined;
      const { version, ...fromRun } = runFacts(rec.value, config.ok ? config.value : undefined, ev?.ok ? ev.value : undefined);
      Object.assign(facts, fromRun, version ? { version } : {});
    }
  }
  return facts;
}

const TAGS = ['lora-lab', 'lora', 'peft', 'text-generation'];

/** A merged model's card: transformers loads it as it is. */
export function mergedModelCard(f: CardFacts): string {
  return [
    frontMatter({ base_model: f.baseModel, library_name: 'transformers', license: f.license, pipeline_tag: 'text-generation', tags: [...TAGS, 'merged'] }),
    `# ${f.run ? `${f.run.name} (merged)` : 'Merged LoRA model'}`, '',
    `\`${f.baseModel}\` with a LoRA adapter trained by LoRA Lab merged into its weights (W' = W + scale·B·A): a plain`,
    'model folder in the base\'s own key layout, dtypes and sharding, with no PEFT needed to load it.', '',
    '## Load it', '', '```python', 'from transformers import AutoModelForCausalLM, AutoTokenizer', '',
    'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")', 'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")', '```', '',
    factsMarkdown(f),
  ].join('\n');
}

/** An adapter's card in PEFT's usual style (library_name: peft). */
export function adapterCard(f: CardFacts): string {
  return [
    frontMatter({ base_model: f.baseModel, library_name: 'peft', license: f.license, pipeline_tag: 'text-generation', tags: [...TAGS, 'base_model:adapter:' + f.baseModel] }),
    `# ${f.run ? f.run.name : 'LoRA adapter'}`, '',
    `A LoRA adapter for \`${f.baseModel}\`, trained by LoRA Lab and saved in PEFT's format (adapter_config.json,`,
    'adapter_model.safetensors).', '',
    '## Load it', '', '```python', 'from peft import PeftModel', 'from transformers import AutoModelForCausalLM', '',
    `base = AutoModelForCausalLM.from_pretrained(${JSON.stringify(f.baseModel)})`, 'model = PeftModel.from_pretrained(base, "path/to/this/folder")',
    'model = model.merge_and_unload()  # optional: a plain transformers model', '```', '',
    factsMarkdown(f),
  ].join('\n');
}

/** Writes the adapter's README.md (atomically) from its own config and its run; returns the file. */
export function writeAdapterCard(adapterDir: string, modelDir: string): string {
  const file = path.join(adapterDir, CARD_FILE);
  writeFileAtomic(file, adapterCard(cardFacts(adapterDir, modelDir)));
  return file;
}
