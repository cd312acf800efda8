// run.json: the record of one experiment (config, model and dataset fingerprints, backend,
// status, timings, owning process; the type and its decoder are src/protocol/runRecord.ts), its
// validation when read back, and its atomic write.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunStoreError, writeFileAtomic } from '../util/durableFiles';
import { isRecord } from '../../protocol/decode';
import { decodeRunRecord, type RunRecord } from '../../protocol/runRecord';

export { RUN_STATUSES, type RunRecord, type RunStatus } from '../../protocol/runRecord';

// The folder layout: <runs root>/<id>/{run.json, metrics.jsonl, train.log, checkpoints/, adapter/}.
export const RUN_FILE = 'run.json';
export const METRICS_FILE = 'metrics.jsonl';
export const LOG_FILE = 'train.log';
export const CHECKPOINTS_DIR = 'checkpoints';
export const ADAPTER_DIR = 'adapter';
// Bumped when run.json changes incompatibly; readers refuse newer formats by name.
export const RUN_FORMAT_VERSION = 1;

/** Write `rec` (without `dir`) to `<dir>/run.json` through a temp file and rename. */
export function writeRunRecord(dir: string, rec: RunRecord): void {
  const { dir: _dir, ...stored } = rec;
  const text = `${JSON.stringify({ formatVersion: RUN_FORMAT_VERSION, ...stored }, null, 2)}\n`;
  writeFileAtomic(path.join(dir, RUN_FILE), text);
}

/** Read and validate `<dir>/run.json`; the error names the file and what to do. */
export function readRunRecord(dir: string): RunRecord {
  const file = path.join(dir, RUN_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new RunStoreError(`${file} does not exist: this folder is not a LoRA Lab run, or its creation was cut short. Open a folder under .lora-lab/runs, or delete this one.`, file);
    }
    throw new RunStoreError(`${file} cannot be read (${(e as Error).message}); check the folder's permissions.`, file);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new RunStoreError(`${file} is not valid JSON (${(e as Error).message}); restore it from a backup or delete the run folder. metrics.jsonl and checkpoints/ beside it are still usable.`, file);
  }
  return validate(json, dir, file);
}

function validate(json: unknown, dir: string, file: string): RunRecord {
  if (isRecord(json) && typeof json.formatVersion === 'number' && json.formatVersion > RUN_FORMAT_VERSION) {
    throw new RunStoreError(`${file} has formatVersion ${json.formatVersion}, newer than this LoRA Lab understands (${RUN_FORMAT_VERSION}); update LoRA Lab to open it.`, file);
  }
  const rec = decodeRunRecord({ id: path.basename(dir), dir: path.resolve(dir) })(json);
  if (!rec.ok) throw new RunStoreError(`${file}: ${rec.error}; the file was edited by hand or written by another tool. Fix that field or delete the run folder.`, file);
  return rec.value;
}
