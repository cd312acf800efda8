// File-level checks before any row is read: the path exists and is a file, its extension is a
// supported dataset kind, its start is UTF-8 text (the readers check the rest) and it is not empty. Also finds a validation file next to
// the training file.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { DatasetError, messageOf } from './errors';
import { decodeChecked } from './limits';

/** How a file is read (not its row format, which is detected from the rows). */
export type FileKind = 'jsonl' | 'json' | 'csv' | 'tsv' | 'txt';

const KIND_OF_EXTENSION: Record<string, FileKind> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'json',
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.txt': 'txt',
};

const SUPPORTED = '.jsonl, .json, .csv, .tsv or .txt';

/** Advice for formats people commonly have instead. */
const CONVERSION_ADVICE: Record<string, string> = {
  '.parquet': "convert it to JSON Lines, e.g. pandas.read_parquet(path).to_json('train.jsonl', orient='records', lines=True)",
  '.arrow': "convert it to JSON Lines, e.g. datasets.Dataset.from_file(path).to_json('train.jsonl')",
  '.xlsx': 'save the sheet as CSV (UTF-8) with a header row',
  '.xls': 'save the sheet as CSV (UTF-8) with a header row',
  '.gz': 'decompress it first (gunzip)',
  '.zip': 'extract it first',
  '.md': 'rename it to .txt to train on it as plain text',
};

/** Bytes read to sniff a file's content: enough to see binary data or the first rows. */
const HEAD_BYTES = 64 * 1024;

/** Magic numbers of binary formats that end up under a text extension. */
const MAGIC: Array<[bytes: number[], what: string]> = [
  [[0x50, 0x41, 0x52, 0x31], 'a Parquet file'],
  [[0x1f, 0x8b], 'gzip-compressed'],
  [[0x50, 0x4b, 0x03, 0x04], 'a ZIP archive (or .xlsx)'],
  [[0x41, 0x52, 0x52, 0x4f, 0x57, 0x31], 'an Arrow file'],
];

export interface FileInfo {
  kind: FileKind;
  size: number;
  /** The first HEAD_BYTES decoded as UTF-8, BOM removed (a multi-byte character cut at the end may be dropped). */
  head: string;
}

/** The file's kind, after checking it is a readable, non-empty UTF-8 text file of a supported kind. */
export async function inspectFile(file: string): Promise<FileInfo> {
  let size: number;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new DatasetError(file, directoryMessage(file));
    if (!st.isFile()) throw new DatasetError(file, `${file} is not a regular file. Give the path of a ${SUPPORTED} dataset file.`);
    size = st.size;
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DatasetError(file, `Dataset file not found: ${file}. Check the path (relative paths are resolved from the working folder).`);
    throw new DatasetError(file, `Cannot read dataset file ${file}: ${messageOf(e)}. Check that it exists and is readable.`);
  }
  const ext = extname(file).toLowerCase();
  const kind = KIND_OF_EXTENSION[ext];
  if (kind === undefined) {
    const advice = CONVERSION_ADVICE[ext] ?? `use a ${SUPPORTED} file`;
    throw new DatasetError(file, `${file}: ${ext || 'files without an extension'} is not a supported dataset kind (${SUPPORTED}): ${advice}.`);
  }
  if (size === 0) throw new DatasetError(file, `${file} is empty: the dataset has no rows. Add rows, or point to another file.`);
  const bytes = await readHead(file, Math.min(size, HEAD_BYTES));
  const head = decodeHead(file, bytes, size > bytes.length);
  if (size <= HEAD_BYTES && head.trim() === '') {
    throw new DatasetError(file, `${file} holds only whitespace: the dataset has no rows. Add rows, or point to another file.`);
  }
  return { kind, size, head };
}

async function readHead(file: string, n: number): Promise<Uint8Array> {
  const handle = await open(file, 'r');
  try {
    const buf = new Uint8Array(n);
    const { bytesRead } = await handle.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function decodeHead(file: string, bytes: Uint8Array, truncated: boolean): string {
  for (const [magic, what] of MAGIC) {
    if (magic.every((b, i) => bytes[i] === b)) {
      throw new DatasetError(file, `${file} is ${what}, not ${extname(file)} text. Convert it to a UTF-8 ${SUPPORTED} file.`);
    }
  }
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new DatasetError(file, `${file} is UTF-16 text. Re-save it as UTF-8 (e.g. in VS Code: "Save with Encoding" → UTF-8).`);
  }
  if (bytes.includes(0)) {
    throw new DatasetError(file, `${file} contains NUL bytes, so it is a binary file, not ${extname(file)} text. Point to the dataset's text file.`);
  }
  // A multi-byte character may be cut at the end of the sniffed bytes: decode up to 3 bytes less.
  let end = bytes.length;
  if (truncated) while (end > bytes.length - 3 && end > 0 && (bytes[end - 1] & 0xc0) === 0x80) end--;
  if (truncated && end > 0 && bytes[end - 1] >= 0xc0) end--;
  // The readers check the rest of the file as they go, with the same message.
  const text = decodeChecked(file, bytes.subarray(0, end), 0, 1);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function directoryMessage(dir: string): string {
  let candidates: string[] = [];
  try {
    candidates = readdirSync(dir)
      .filter((name) => KIND_OF_EXTENSION[extname(name).toLowerCase()] !== undefined)
      .slice(0, 5);
  } catch {
    // Unreadable folder: the message below still says what to do.
  }
  const hint = candidates.length > 0 ? ` It holds ${candidates.map((c) => join(dir, c)).join(', ')}.` : '';
  return `${dir} is a folder; give the path of a dataset file inside it (${SUPPORTED}).${hint}`;
}

/** Validation file names looked for next to the training file, in order of preference. */
const VALID_NAMES = ['valid', 'val', 'validation'];

/** Extensions that may stand in for one another when looking for a sibling validation file. */
function extensionFamily(ext: string): string[] {
  const kind = KIND_OF_EXTENSION[ext];
  if (kind === 'jsonl' || kind === 'json') return [ext, ...['.jsonl', '.json'].filter((e) => e !== ext)];
  return [ext];
}

/**
 * A valid/val/validation file of the same extension family (.jsonl/.json together; .csv, .tsv and
 * .txt each alone) in the training file's folder, or undefined. Never the training file itself.
 */
export function findSiblingValidFile(trainFile: string): string | undefined {
  const dir = dirname(trainFile);
  const ext = extname(trainFile).toLowerCase();
  const own = basename(trainFile);
  for (const e of extensionFamily(ext)) {
    for (const name of VALID_NAMES) {
      const candidate = `${name}${e}`;
      if (candidate === own) continue;
      const path = join(dir, candidate);
      if (existsSync(path) && statSync(path).isFile()) return path;
    }
  }
  return undefined;
}
