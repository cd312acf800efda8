// A Hugging Face model folder's weights as one name → tensor store, whether they live in a
// single model.safetensors or in shards listed by model.safetensors.index.json.
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { closeNamesHint, elementCount, SafetensorsError, SafetensorsFile, type TensorInfo } from './safetensors';

// The file names transformers' save_pretrained writes (SAFE_WEIGHTS_NAME / SAFE_WEIGHTS_INDEX_NAME).
const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';
// How many folder entries an error lists before summarising the rest.
const LISTED_ENTRIES = 20;

export type WeightInfo = TensorInfo & { file: string };

export class WeightStore {
  readonly dir: string;
  /** The safetensors files (modelDir joined with each name), in the order the index first names them. */
  readonly files: string[];
  private readonly byName: Map<string, SafetensorsFile>;
  private readonly opened: SafetensorsFile[];

  private constructor(dir: string, opened: SafetensorsFile[], byName: Map<string, SafetensorsFile>) {
    this.dir = dir;
    this.opened = opened;
    this.files = opened.map((f) => f.path);
    this.byName = byName;
  }

  /** Opens the folder's weights and validates every header; no tensor data is read yet. */
  static open(modelDir: string): WeightStore {
    if (!fs.existsSync(modelDir) || !fs.statSync(modelDir).isDirectory()) {
      throw new SafetensorsError(`${modelDir}: not a folder. Choose the model folder that holds config.json and the .safetensors weights.`, modelDir);
    }
    const single = nodePath.join(modelDir, SINGLE_FILE);
    // transformers also prefers the single file when both are present.
    if (fs.existsSync(single)) {
      const file = SafetensorsFile.open(single);
      return new WeightStore(modelDir, [file], new Map(file.names().map((n) => [n, file])));
    }
    const index = nodePath.join(modelDir, INDEX_FILE);
    if (fs.existsSync(index)) return WeightStore.openSharded(modelDir, index);
    throw new SafetensorsError(missingWeightsMessage(modelDir), modelDir);
  }

  private static openSharded(modelDir: string, index: string): WeightStore {
    const weightMap = readWeightMap(index);
    const opened = new Map<string, SafetensorsFile>();
    try {
      const byName = new Map<string, SafetensorsFile>();
      for (const [name, shardName] of Object.entries(weightMap)) {
        let shard = opened.get(shardName);
        if (!shard) {
          const shardPath = nodePath.join(modelDir, shardName);
          if (!fs.existsSync(shardPath)) {
            throw new SafetensorsError(`${index}: maps "${name}" to shard ${shardName}, which is not in ${modelDir}. Download the missing shard (every file the index names must be present).`, index, name);
          }
          shard = SafetensorsFile.open(shardPath);
          opened.set(shardName, shard);
        }
        if (!shard.has(name)) {
          throw new SafetensorsError(`${index}: maps tensor "${name}" to ${shard.path}, but that shard has no such tensor. The index and shards come from different saves: download both again.`, shard.path, name);
        }
        byName.set(name, shard);
      }
      return new WeightStore(modelDir, [...opened.values()], byName);
    } catch (e) {
      for (const f of opened.values()) f.close();
      throw e;
    }
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): WeightInfo {
    const file = this.fileFor(name);
    return { ...file.info(name), file: file.path };
  }

  readFloat32(name: string): Float32Array {
    return this.fileFor(name).readFloat32(name);
  }

  /** dtype → number of tensors stored in it, e.g. { BF16: 290, F32: 2 }. */
  dtypes(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const [name, file] of this.byName) {
      const { dtype } = file.info(name);
      counts[dtype] = (counts[dtype] ?? 0) + 1;
    }
    return counts;
  }

  /** Elements across all tensors (tied weights stored once count once, as on disk). */
  totalParameters(): number {
    let total = 0;
    for (const [name, file] of this.byName) total += elementCount(file.info(name).shape);
    return total;
  }

  close(): void {
    for (const f of this.opened) f.close();
  }

  private fileFor(name: string): SafetensorsFile {
    const file = this.byName.get(name);
    if (file) return file;
    throw new SafetensorsError(
      `${this.dir}: the model's weights have no tensor named "${name}"${closeNamesHint(name, this.byName.keys())}` +
      '. Check that config.json matches these weights.', this.files[0] ?? this.dir, name);
  }
}

/** Parses the index's weight_map (tensor name → shard file name) and checks its shape. */
function readWeightMap(index: string): Record<string, string> {
  const fail = (what: string): never => {
    throw new SafetensorsError(`${index}: ${what}. Re-download the model or re-save it with save_pretrained(safe_serialization=True).`, index);
  };
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(index, 'utf8'));
  } catch (e) {
    fail(`cannot read the index as JSON (${(e as Error).message})`);
  }
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) fail('has no "weight_map" object');
  const entries = Object.entries(weightMap as Record<string, unknown>);
  if (entries.length === 0) fail('"weight_map" is empty');
  for (const [name, shard] of entries) {
    if (typeof shard !== 'string' || shard === '') fail(`"weight_map" entry "${name}" is not a file name`);
    // Shards sit next to the index; a path would let an index reach outside the model folder.
    if (nodePath.basename(shard as string) !== shard || shard === '.' || shard === '..') {
      fail(`"weight_map" entry "${name}" points at ${JSON.stringify(shard)}, not a file in the model folder`);
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

/** What to tell the user when a folder holds neither weights layout. */
function missingWeightsMessage(dir: string): string {
  const entries = fs.readdirSync(dir).sort();
  const listed = entries.length === 0 ? 'it is empty'
    : `it contains ${entries.slice(0, LISTED_ENTRIES).join(', ')}${entries.length > LISTED_ENTRIES ? ` and ${entries.length - LISTED_ENTRIES} more` : ''}`;
  let msg = `${dir}: no ${SINGLE_FILE} or ${INDEX_FILE} found (${listed}).`;
  if (entries.some((e) => e.endsWith('.bin'))) {
    msg += ' PyTorch .bin (pickle) checkpoints such as pytorch_model.bin are not supported: convert them in Python with'
      + ' `AutoModelForCausalLM.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`, which writes model.safetensors.';
  } else {
    msg += ' Choose a Hugging Face model folder saved with safetensors weights.';
  }
  return msg;
}
